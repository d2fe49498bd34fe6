// PieceStream: a Boost.Asio SyncReadStream over a fuzz input that hands
// the bytes over `piece` at a time and then reports end of file, so Beast's
// own read algorithms (http::read, read_header, read_some) parse the input
// exactly as they parse a socket's bytes, split at any position.
#ifndef TOOLS_FUZZING_PIECE_STREAM_H_
#define TOOLS_FUZZING_PIECE_STREAM_H_

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <cstdint>

namespace kmesh::fuzz {

class PieceStream {
 public:
  PieceStream(const uint8_t* data, size_t size, size_t piece)
      : data_(data), size_(size), piece_(std::max<size_t>(1, piece)) {}

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers,
                   boost::beast::error_code& ec) {
    ec = {};
    if (offset_ == size_) {
      ec = boost::asio::error::eof;
      return 0;
    }
    const size_t n = boost::asio::buffer_copy(
        buffers, boost::asio::buffer(data_ + offset_,
                                     std::min(piece_, size_ - offset_)));
    offset_ += n;
    return n;
  }

 private:
  const uint8_t* const data_;
  const size_t size_;
  const size_t piece_;
  size_t offset_ = 0;
};

}  // namespace kmesh::fuzz

#endif  // TOOLS_FUZZING_PIECE_STREAM_H_

#include "kmesh/crypto/secret_bytes.h"

#include <openssl/mem.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::crypto {
namespace {

std::atomic<SecretBytes::WipeObserver> wipe_observer{nullptr};

// Key storage: anonymous pages marked MADV_DONTDUMP, so that a core dump of
// the process leaves keys out, and never shared with other heap data. Small
// buffers (keys are tens of bytes) are slots of a power-of-two size class
// carved from 64 KiB slabs; freed slots (already wiped) go on a per-class
// free list and are reused, and slabs are kept for the life of the process,
// so the memory held is the peak number of live secrets. Larger buffers get
// pages of their own, unmapped when freed.
constexpr size_t kMinSlot = 16;
constexpr size_t kMaxSlot = 2048;
constexpr int kClasses = 8;  // 16, 32, ..., 2048.
constexpr size_t kSlabSize = 64 << 10;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Fresh zeroed pages excluded from core dumps; throws std::bad_alloc, as
// operator new would.
void* MapDontDump(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Best effort: kernels before 3.4 lack MADV_DONTDUMP.
  (void)madvise(p, bytes, MADV_DONTDUMP);
  return p;
}

int SizeClass(size_t size) {
  int c = 0;
  for (size_t slot = kMinSlot; slot < size; slot <<= 1) ++c;
  return c;
}

class SecretHeap {
 public:
  uint8_t* Allocate(size_t size) {
    if (size > kMaxSlot) {
      return static_cast<uint8_t*>(MapDontDump(RoundToPages(size)));
    }
    const int c = SizeClass(size);
    const size_t slot = kMinSlot << c;
    absl::MutexLock lock(&mu_);
    if (free_[c] == nullptr) {
      // A new slab: thread all its slots onto the free list.
      auto* slab = static_cast<uint8_t*>(MapDontDump(kSlabSize));
      for (size_t offset = kSlabSize; offset >= slot; offset -= slot) {
        Push(c, slab + offset - slot);
      }
    }
    FreeSlot* head = free_[c];
    free_[c] = head->next;
    auto* p = reinterpret_cast<uint8_t*>(head);
    std::memset(p, 0, slot);
    return p;
  }

  // `p` must have been wiped by the caller.
  void Free(uint8_t* p, size_t size) {
    if (size > kMaxSlot) {
      munmap(p, RoundToPages(size));
      return;
    }
    absl::MutexLock lock(&mu_);
    Push(SizeClass(size), p);
  }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };

  static size_t RoundToPages(size_t size) {
    const size_t page = PageSize();
    return (size + page - 1) / page * page;
  }

  void Push(int c, uint8_t* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto* slot = reinterpret_cast<FreeSlot*>(p);
    slot->next = free_[c];
    free_[c] = slot;
  }

  absl::Mutex mu_;
  FreeSlot* free_[kClasses] ABSL_GUARDED_BY(mu_) = {};
};

SecretHeap& Heap() {
  // Never destroyed: secrets may be freed during static destruction.
  static SecretHeap* heap = new SecretHeap();
  return *heap;
}

}  // namespace

void SecretBytes::Deleter::operator()(uint8_t* p) const {
  Heap().Free(p, size);
}

SecretBytes::SecretBytes(size_t size)
    : data_(size == 0 ? nullptr : Heap().Allocate(size), Deleter{size}),
      size_(size) {}

SecretBytes::SecretBytes(absl::Span<const uint8_t> bytes)
    : SecretBytes(bytes.size()) {
  if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
}

SecretBytes SecretBytes::CopyFrom(absl::string_view bytes) {
  return SecretBytes(absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

SecretBytes SecretBytes::TakeAndWipe(std::string* source) {
  SecretBytes copy = CopyFrom(*source);
  OPENSSL_cleanse(source->data(), source->size());
  source->clear();
  return copy;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Clear(); }

SecretBytes SecretBytes::Clone() const { return SecretBytes(span()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  return Equals(other.span());
}

bool SecretBytes::Equals(absl::Span<const uint8_t> other) const {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_.get(), other.data(), size_) == 0;
}

void SecretBytes::Clear() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_.get(), size_);
    if (WipeObserver observer = wipe_observer.load(std::memory_order_acquire)) {
      observer(data_.get(), size_);
    }
    data_.reset();
  }
  size_ = 0;
}

std::string SecretBytes::DebugString() const {
  return absl::StrCat("<", size_, " secret bytes>");
}

void SecretBytes::SetWipeObserverForTesting(WipeObserver observer) {
  wipe_observer.store(observer, std::memory_order_release);
}

}  // namespace kmesh::crypto

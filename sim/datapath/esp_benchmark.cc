// ESP throughput of the simulated datapath: encapsulation plus
// decapsulation of 1400-byte inner packets under one SA (EspTransform), on
// one core, against BoringSSL's bare AEAD seal plus open of the same bytes in
// the same run (the baseline the ESP code cannot beat). Prints both rates and
// the ratio (goal: at least 0.8 of the bare rate).
//   bazel run -c opt //sim/datapath:esp_benchmark -- [--packets=N] [--rounds=R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "gflags/gflags.h"
#include "kmesh/crypto/aead.h"
#include "sim/datapath/esp_transform.h"
#include "sim/net/ip_packet.h"

DEFINE_int32(packets, 200000, "packets per round");
DEFINE_int32(rounds, 7, "rounds; the median is reported");
DEFINE_int32(size, 1400, "inner packet size in bytes");

namespace kmesh::sim {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run() {
  std::vector<uint8_t> key(36);
  for (size_t i = 0; i < key.size(); ++i) key[i] = i * 7 + 1;
  XfrmSa sa;
  sa.src = *IpAddress::Parse("10.0.0.1");
  sa.dst = *IpAddress::Parse("10.0.0.2");
  sa.spi = 1;
  sa.aead_key = XfrmKey(key.data(), key.size());
  sa.esn = true;
  sa.replay_window = 1024;
  auto esp = EspTransform::Create(sa);
  auto bare = crypto::Rfc4106Aes256Gcm::Create(key);
  if (!esp.ok() || !bare.ok()) return 1;

  std::vector<uint8_t> payload(FLAGS_size - 28, 0xab);
  const auto inner =
      BuildUdpPacket(*IpAddress::Parse("10.244.1.2"),
                     *IpAddress::Parse("10.244.2.3"), 1, 2, payload);
  // The bare AEAD works on the same plaintext length ESP encrypts.
  std::vector<uint8_t> plain(
      inner.size() + 2 + (4 - (inner.size() + 2) % 4) % 4, 0xab);
  std::vector<uint8_t> sealed(plain.size() + 16), opened(plain.size());
  uint8_t iv[8] = {}, aad[12] = {0, 0, 0, 1};

  std::vector<double> esp_rates, bare_rates;
  uint64_t seq = 0;
  for (int r = 0; r < FLAGS_rounds; ++r) {
    auto start = Clock::now();
    for (int i = 0; i < FLAGS_packets; ++i) {
      ++seq;
      auto outer = esp->Encapsulate(seq, inner);
      auto back = esp->Decapsulate(seq, *outer);
      if (!back.ok() || back->size() != inner.size()) {
        std::fprintf(stderr, "round trip failed\n");
        return 1;
      }
    }
    esp_rates.push_back(
        FLAGS_packets /
        std::chrono::duration<double>(Clock::now() - start).count());
    start = Clock::now();
    for (int i = 0; i < FLAGS_packets; ++i) {
      iv[7] = static_cast<uint8_t>(i);
      auto n = bare->SealInto(iv, aad, plain, absl::MakeSpan(sealed));
      auto m = bare->OpenInto(iv, aad, sealed, absl::MakeSpan(opened));
      if (!n.ok() || !m.ok()) return 1;
    }
    bare_rates.push_back(
        FLAGS_packets /
        std::chrono::duration<double>(Clock::now() - start).count());
  }
  const double e = Median(esp_rates), b = Median(bare_rates);
  std::printf("inner packet %d bytes, %d packets x %d rounds (median)\n",
              FLAGS_size, FLAGS_packets, FLAGS_rounds);
  std::printf(
      "EspTransform encap+decap: %.0f packets/s (%.2f Gbit/s of inner)\n", e,
      e * inner.size() * 8 / 1e9);
  std::printf("bare AEAD seal+open:      %.0f packets/s\n", b);
  std::printf("ratio ESP / bare: %.2f (goal >= 0.80)\n", e / b);
  return 0;
}

}  // namespace
}  // namespace kmesh::sim

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return kmesh::sim::Run();
}

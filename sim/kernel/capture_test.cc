// The capture must be what real tools read: pcap files written here are read
// back with the real tcpdump (its lines must equal ours) and the ESP in them
// is decrypted by tshark with the SA's key, an independent check of the ESP
// encoding. Skips with a reason when tcpdump or tshark is not installed.
#include "sim/kernel/capture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/base/testing/test_directory.h"
#include "sim/kernel/esp_transform.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::CommandOutput;
using ::kmesh::testing::HaveTool;
using ::kmesh::testing::Ip;

// An interface index no machine has, so tcpdump prints "?" for its name as it
// does for `-i any` captures read elsewhere.
constexpr uint32_t kIfindex = 0x7ffffff0;

std::string Normalise(const std::string& s) {
  std::vector<std::string> w =
      absl::StrSplit(s, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  return absl::StrJoin(w, " ");
}

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("capture");
    std::vector<uint8_t> key(36);
    for (size_t i = 0; i < key.size(); ++i) key[i] = 0x10 + i;
    sa_.src = Ip("10.0.0.1");
    sa_.dst = Ip("10.0.0.2");
    sa_.spi = 0x2;
    sa_.aead_key = XfrmKey(key.data(), key.size());
    key_hex_ = "0x";
    for (uint8_t b : key)
      absl::StrAppend(&key_hex_, absl::Hex(b, absl::kZeroPad2));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<CapturedPacket> Packets() {
    auto esp = EspTransform::Create(sa_);
    EXPECT_TRUE(esp.ok());
    const uint8_t payload[] = {'p', 'i', 'n', 'g'};
    auto inner =
        BuildUdpPacket(Ip("10.244.1.2"), Ip("10.244.2.3"), 1000, 2000, payload);
    auto inner6 =
        BuildUdpPacket(Ip("fd00:1::2"), Ip("fd00:2::3"), 1001, 2001, payload);
    const auto t0 = std::chrono::system_clock::time_point(
        std::chrono::seconds(1764166764) + std::chrono::microseconds(143654));
    std::vector<CapturedPacket> packets;
    packets.push_back({t0, "eth0", kIfindex, PacketDirection::kOut,
                       *esp->Encapsulate(0x3da88, inner)});
    packets.push_back({t0 + std::chrono::microseconds(5), "eth0", kIfindex,
                       PacketDirection::kIn, inner});
    packets.push_back({t0 + std::chrono::microseconds(9), "eth0", kIfindex,
                       PacketDirection::kOut, inner6});
    auto esp6 = sa_;
    esp6.src = Ip("fd00::1");
    esp6.dst = Ip("fd00::2");
    packets.push_back({t0 + std::chrono::seconds(1), "eth0", kIfindex,
                       PacketDirection::kIn,
                       *EspTransform::Create(esp6)->Encapsulate(7, inner)});
    return packets;
  }

  std::string Write(const std::vector<CapturedPacket>& packets) {
    const std::string path = dir_ + "/c.pcap";
    auto w = PcapWriter::Create(path);
    EXPECT_TRUE(w.ok()) << w.status();
    for (const auto& p : packets) EXPECT_TRUE(w->Write(p).ok());
    EXPECT_TRUE(w->Flush().ok());
    return path;
  }

  std::string dir_;
  XfrmSa sa_;
  std::string key_hex_;
};

TEST_F(CaptureTest, OurLinesAreTheLinesRealTcpdumpPrints) {
  if (!HaveTool("tcpdump")) GTEST_SKIP() << "tcpdump is not installed";
  const auto packets = Packets();
  const std::string path = Write(packets);
  const std::string out =
      CommandOutput("TZ=UTC tcpdump -n -r " + path + " 2>/dev/null");
  std::vector<std::string> theirs =
      absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(theirs.size(), packets.size()) << out;
  for (size_t i = 0; i < packets.size(); ++i) {
    EXPECT_EQ(Normalise(FormatTcpdumpLine(packets[i], nullptr)),
              Normalise(theirs[i]));
  }
  EXPECT_EQ(Normalise(FormatTcpdumpLine(packets[0], nullptr)),
            "14:19:24.143654 ? Out IP 10.0.0.1 > 10.0.0.2: "
            "ESP(spi=0x00000002,seq=0x3da88), length 68");
}

TEST_F(CaptureTest, NodeAddressesPrintAsNodeNames) {
  auto names = [](const IpAddress& a) -> std::string {
    if (a == Ip("10.0.0.1")) return "master";
    if (a == Ip("10.0.0.2")) return "node1";
    return "";
  };
  EXPECT_EQ(FormatTcpdumpLine(Packets()[0], names),
            "14:19:24.143654 ? Out IP master > node1: "
            "ESP(spi=0x00000002,seq=0x3da88), length 68");
}

TEST_F(CaptureTest, TsharkDecryptsOurEspWithTheSaKey) {
  if (!HaveTool("tshark")) GTEST_SKIP() << "tshark is not installed";
  const std::string path = Write(Packets());
  const std::string sa = absl::StrCat(
      "\"IPv4\",\"10.0.0.1\",\"10.0.0.2\",\"0x00000002\",\"AES-GCM with 16 "
      "octet ICV [RFC4106]\",\"",
      key_hex_, "\",\"NULL\",\"\"");
  const std::string cmd = absl::StrCat(
      "HOME=", dir_, " tshark -r ", path,
      " -o esp.enable_encryption_decode:TRUE",
      " -o esp.enable_authentication_check:TRUE -o 'uat:esp_sa:", sa,
      "' -Y 'frame.number==1' -T fields -e esp.spi -e ip.src -e ip.dst "
      "-e udp.srcport -e udp.dstport -e data.data 2>&1");
  const std::string out = CommandOutput(cmd);
  // The inner packet's addresses and ports, decrypted by tshark.
  EXPECT_NE(out.find("10.244.1.2"), std::string::npos) << out;
  EXPECT_NE(out.find("10.244.2.3"), std::string::npos) << out;
  EXPECT_NE(out.find("1000\t2000"), std::string::npos) << out;
  EXPECT_NE(out.find("70696e67"), std::string::npos) << out;  // "ping"

  // With the wrong key, tshark cannot recover the inner packet.
  std::string wrong = sa;
  wrong.replace(wrong.find(key_hex_) + 2, 2, "ff");
  std::string bad_cmd = cmd;
  bad_cmd.replace(bad_cmd.find(sa), sa.size(), wrong);
  const std::string bad = CommandOutput(bad_cmd);
  EXPECT_EQ(bad.find("1000\t2000"), std::string::npos) << bad;
}

}  // namespace
}  // namespace kmesh::sim

#include "kmesh/daemon/daemon_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<DaemonConfig> Config(const std::string& mode = "dual-engine",
                                    bool ipsec = true,
                                    const std::string& node = "",
                                    std::optional<std::string> env = "node-1",
                                    const std::string& grace = "5m",
                                    const std::string& bpf_dir = "bpf") {
  return MakeDaemonConfig(mode, false, ipsec, node, env, "kmesh-ipsec/ipSec",
                          grace, "", bpf_dir, "/sys/fs/bpf/kmesh-ipsec");
}

TEST(DaemonFlagsTest, KmeshDashedFlagNamesBecomeGflagsNames) {
  EXPECT_THAT(
      NormalizeFlagNames({"kmesh-daemon", "--enable-ipsec=true",
                          "--mode=dual-engine", "-enable-bypass",
                          "--ipsec-key-file=/a-b/c-d", "--", "--not-a-flag"}),
      ElementsAre("kmesh-daemon", "--enable_ipsec=true", "--mode=dual-engine",
                  "-enable_bypass", "--ipsec_key_file=/a-b/c-d", "--",
                  "--not-a-flag"));
}

TEST(DaemonFlagsTest, DefaultsAreKmeshs) {
  DaemonConfig defaults;
  EXPECT_EQ(defaults.mode, "dual-engine");
  EXPECT_FALSE(defaults.enable_bypass);
  EXPECT_FALSE(defaults.enable_ipsec);
  EXPECT_EQ(defaults.ipsec_key_file, "kmesh-ipsec/ipSec");
  EXPECT_EQ(defaults.ipsec_grace_period, std::chrono::minutes(5));
  EXPECT_EQ(defaults.bpf_object_dir, "bpf");
  EXPECT_EQ(defaults.bpf_pin_dir, "/sys/fs/bpf/kmesh-ipsec");
}

TEST(DaemonFlagsTest, ModeMustBeOneOfKmeshs) {
  EXPECT_TRUE(Config("kernel-native").ok());
  absl::StatusOr<DaemonConfig> bad = Config("ads");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("dual-engine or kernel-native"));
}

TEST(DaemonFlagsTest, NodeNameComesFromFlagThenEnvironment) {
  EXPECT_EQ(Config("dual-engine", true, "flag-node", "env-node")->node_name,
            "flag-node");
  EXPECT_EQ(Config("dual-engine", true, "", "env-node")->node_name, "env-node");
  absl::StatusOr<DaemonConfig> missing =
      Config("dual-engine", true, "", std::nullopt);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("NODE_NAME"));
  EXPECT_TRUE(Config("dual-engine", false, "", std::nullopt).ok())
      << "without IPsec the node name is not needed";
}

TEST(DaemonFlagsTest, GracePeriodIsADuration) {
  EXPECT_EQ(Config("dual-engine", true, "", "n", "90s")->ipsec_grace_period,
            std::chrono::seconds(90));
  EXPECT_EQ(Config("dual-engine", true, "", "n", "1h")->ipsec_grace_period,
            std::chrono::hours(1));
  EXPECT_FALSE(Config("dual-engine", true, "", "n", "five minutes").ok());
  EXPECT_FALSE(Config("dual-engine", true, "", "n", "-1m").ok());
}

TEST(DaemonFlagsTest, BpfObjectDirMustBeGiven) {
  EXPECT_TRUE(Config("dual-engine", true, "", "n", "5m", "/opt/bpf").ok());
  EXPECT_THAT(
      std::string(
          Config("dual-engine", true, "", "n", "5m", "").status().message()),
      HasSubstr("--bpf-object-dir"));
}

TEST(DaemonFlagsTest, StatusAddressIsLoopbackByDefaultAndCanBeOff) {
  EXPECT_EQ(Config()->status_address, "127.0.0.1:15200");
  auto with = [](const std::string& address) {
    return MakeDaemonConfig("dual-engine", false, true, "n", std::nullopt,
                            "kmesh-ipsec/ipSec", "5m", "", "bpf",
                            "/sys/fs/bpf/kmesh-ipsec", address);
  };
  EXPECT_EQ(with("off")->status_address, "");
  EXPECT_EQ(with("10.0.0.5:15200")->status_address, "10.0.0.5:15200");
  EXPECT_EQ(with("[fd00::5]:15200")->status_address, "[fd00::5]:15200");
  EXPECT_EQ(with(":9090")->status_address, ":9090");
  absl::StatusOr<DaemonConfig> bad = with("node-a:15200");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("--status-address"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("off"));
  EXPECT_FALSE(with("10.0.0.5").ok());
}

}  // namespace
}  // namespace kmesh::daemon

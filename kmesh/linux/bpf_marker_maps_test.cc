// BpfMarkerMaps against the real BPF maps of the loaded marker objects:
// incremental updates, dumps, the interface's error codes, capacity, and
// pinning across loader restarts. Needs root and BPF; skips otherwise.
#include "kmesh/linux/bpf_marker_maps.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"
#include "kmesh/linux/testing/test_markers.h"
#include "kmesh/linux/testing/unprivileged_child.h"

namespace kmesh::linux_backend {
namespace {

using ::kmesh::testing::Ip;

using testing::TestMarkerObjects;

class BpfMarkerMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
        testing::LoadTestMarkers();
    if (absl::IsPermissionDenied(loader.status())) {
      GTEST_SKIP() << loader.status().message();
    }
    ASSERT_TRUE(loader.ok()) << loader.status();
    loader_ = *std::move(loader);
  }

  BpfMarkerMaps& maps() { return loader_->maps(); }

  std::unique_ptr<BpfMarkerLoader> loader_;
};

TEST_F(BpfMarkerMapsTest, DumpsWhatWasUpsertedAndNotWhatWasDeleted) {
  ASSERT_TRUE(maps().UpsertPeer(Ip("192.168.1.2"), 1).ok());
  ASSERT_TRUE(maps().UpsertPeer(Ip("fd00:1::2"), 1).ok());
  ASSERT_TRUE(maps().UpsertPeer(Ip("192.168.1.3"), 2).ok());
  ASSERT_TRUE(maps().UpsertPeer(Ip("192.168.1.3"), 9).ok());  // Replaces.
  ASSERT_TRUE(maps().UpsertPeer(Ip("192.168.1.4"), 4).ok());
  ASSERT_TRUE(maps().DeletePeer(Ip("192.168.1.4")).ok());

  absl::StatusOr<std::vector<PeerMarkerEntry>> peers = maps().DumpPeers();
  ASSERT_TRUE(peers.ok()) << peers.status();
  std::sort(peers->begin(), peers->end(),
            [](const PeerMarkerEntry& a, const PeerMarkerEntry& b) {
              return a.address < b.address;
            });
  const std::vector<PeerMarkerEntry> want = {
      {Ip("192.168.1.2"), 1}, {Ip("192.168.1.3"), 9}, {Ip("fd00:1::2"), 1}};
  EXPECT_EQ(*peers, want);

  ASSERT_TRUE(maps().UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
  ASSERT_TRUE(maps().UpsertUnmanagedPod(Ip("10.244.1.5")).ok());  // No-op.
  ASSERT_TRUE(maps().UpsertUnmanagedPod(Ip("fd00:244:1::5")).ok());
  ASSERT_TRUE(maps().UpsertUnmanagedPod(Ip("10.244.1.6")).ok());
  ASSERT_TRUE(maps().DeleteUnmanagedPod(Ip("10.244.1.6")).ok());
  absl::StatusOr<std::vector<IpAddress>> pods = maps().DumpUnmanagedPods();
  ASSERT_TRUE(pods.ok()) << pods.status();
  std::sort(pods->begin(), pods->end());
  EXPECT_EQ(*pods,
            (std::vector<IpAddress>{Ip("10.244.1.5"), Ip("fd00:244:1::5")}));

  const auto cidr = [](const char* text) { return *IpPrefix::Parse(text); };
  ASSERT_TRUE(maps().UpsertEncryptCidr(cidr("10.244.1.0/24")).ok());
  ASSERT_TRUE(maps().UpsertEncryptCidr(cidr("10.244.1.0/24")).ok());  // No-op.
  ASSERT_TRUE(maps().UpsertEncryptCidr(cidr("fd00:244:1::/64")).ok());
  ASSERT_TRUE(maps().UpsertEncryptCidr(cidr("10.244.2.0/24")).ok());
  ASSERT_TRUE(maps().DeleteEncryptCidr(cidr("10.244.2.0/24")).ok());
  EXPECT_EQ(maps().DeleteEncryptCidr(cidr("10.244.1.0/25")).code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<IpPrefix>> cidrs = maps().DumpEncryptCidrs();
  ASSERT_TRUE(cidrs.ok()) << cidrs.status();
  std::sort(cidrs->begin(), cidrs->end());
  EXPECT_EQ(*cidrs, (std::vector<IpPrefix>{cidr("10.244.1.0/24"),
                                           cidr("fd00:244:1::/64")}));
}

TEST_F(BpfMarkerMapsTest, DeletingAnAbsentEntryIsNotFoundNamingIt) {
  const absl::Status peer = maps().DeletePeer(Ip("192.168.9.9"));
  EXPECT_EQ(peer.code(), absl::StatusCode::kNotFound) << peer;
  EXPECT_NE(peer.message().find("192.168.9.9"), absl::string_view::npos);
  EXPECT_NE(peer.message().find("ENOENT"), absl::string_view::npos);
  const absl::Status pod = maps().DeleteUnmanagedPod(Ip("fd00::9"));
  EXPECT_EQ(pod.code(), absl::StatusCode::kNotFound) << pod;
  EXPECT_NE(pod.message().find("kmesh_unmanaged"), absl::string_view::npos);
}

TEST_F(BpfMarkerMapsTest, PeerIndexZeroIsRefused) {
  EXPECT_EQ(maps().UpsertPeer(Ip("192.168.1.2"), 0).code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<PeerMarkerEntry>> peers = maps().DumpPeers();
  ASSERT_TRUE(peers.ok());
  EXPECT_TRUE(peers->empty());
}

TEST_F(BpfMarkerMapsTest, FullPeerMapIsResourceExhaustedAndDumpsCompletely) {
  // 65535 entries: one per possible peer index.
  constexpr uint32_t kCapacity = 65535;
  for (uint32_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(maps().UpsertPeer(IpAddress::V4(0xac100000u + i), 1 + i).ok())
        << i;
  }
  const absl::Status full = maps().UpsertPeer(Ip("10.0.0.1"), 1);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find("E2BIG"), absl::string_view::npos) << full;
  // Replacing a present key still works when full.
  EXPECT_TRUE(maps().UpsertPeer(IpAddress::V4(0xac100000u), 77).ok());

  absl::StatusOr<std::vector<PeerMarkerEntry>> peers = maps().DumpPeers();
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_EQ(peers->size(), kCapacity);
  std::sort(peers->begin(), peers->end(),
            [](const PeerMarkerEntry& a, const PeerMarkerEntry& b) {
              return a.address < b.address;
            });
  EXPECT_EQ(peers->front().peer_index, 77);
  EXPECT_EQ(peers->back().address, IpAddress::V4(0xac100000u + kCapacity - 1));
  EXPECT_EQ(peers->back().peer_index, kCapacity);
}

TEST_F(BpfMarkerMapsTest, BatchUpdateAppliesUpsertsAndDeletes) {
  ASSERT_TRUE(maps().UpsertUnmanagedPod(Ip("10.244.2.1")).ok());
  const absl::Status status = maps().UpdateUnmanagedPods(
      {Ip("10.244.2.2"), Ip("10.244.2.3")}, {Ip("10.244.2.1"), Ip("10.9.9.9")});
  // The absent delete is reported, and everything else still applied.
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  absl::StatusOr<std::vector<IpAddress>> targets = maps().DumpUnmanagedPods();
  ASSERT_TRUE(targets.ok());
  std::sort(targets->begin(), targets->end());
  EXPECT_EQ(*targets,
            (std::vector<IpAddress>{Ip("10.244.2.2"), Ip("10.244.2.3")}));
}

TEST_F(BpfMarkerMapsTest, RefusesDescriptorsThatAreNotMarkerMaps) {
  const int array =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "not_marker", 4, 4, 1, nullptr);
  ASSERT_GE(array, 0);
  MarkerMapFds fds;
  fds.peers = array;  // Not a hash map.
  fds.peer_index = array;
  fds.peer_index6 = array;
  fds.unmanaged = array;
  fds.unmanaged_index = array;
  fds.unmanaged_index6 = array;
  fds.encrypt_cidrs = array;
  fds.encrypt_cidr_index = array;
  fds.encrypt_cidr_index6 = array;
  fds.cidr_lengths = array;
  absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> wrapped =
      BpfMarkerMaps::FromFds(fds);
  close(array);
  EXPECT_EQ(wrapped.status().code(), absl::StatusCode::kInvalidArgument)
      << wrapped.status();
}

// Pinned maps outlive the loader: a restarted daemon sees the same entries.
TEST_F(BpfMarkerMapsTest, PinnedMapsKeepEntriesAcrossLoaderRestarts) {
  absl::StatusOr<std::unique_ptr<testing::PrivateBpfFilesystem>> bpffs =
      testing::PrivateBpfFilesystem::Create();
  if (!bpffs.ok())
    GTEST_SKIP() << "no bpf filesystem of its own: " << bpffs.status();
  const std::string dir = absl::StrCat((*bpffs)->path(), "/kmesh-ipsec");
  {
    absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> first =
        BpfMarkerLoader::Load(TestMarkerObjects(dir));
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE((*first)->maps().UpsertPeer(Ip("192.168.1.2"), 3).ok());
    ASSERT_TRUE((*first)->maps().UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
    ASSERT_TRUE((*first)
                    ->maps()
                    .UpsertEncryptCidr(*IpPrefix::Parse("10.244.1.0/24"))
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> second =
      BpfMarkerLoader::Load(TestMarkerObjects(dir));
  absl::StatusOr<std::unique_ptr<BpfMarkerMaps>> opened =
      BpfMarkerMaps::OpenPinned(dir);
  // (The private bpffs takes every pin with it, whatever the outcome.)
  for (const char* name :
       {kPeerMapName, kPeerIndexMapName, kPeerIndex6MapName, kUnmanagedMapName,
        kUnmanagedIndexMapName, kUnmanagedIndex6MapName, kEncryptCidrMapName,
        kEncryptCidrIndexMapName, kEncryptCidrIndex6MapName,
        kCidrLengthsMapName}) {
    const std::string pin = absl::StrCat(dir, "/", name);
    EXPECT_EQ(access(pin.c_str(), F_OK), 0) << pin;
  }
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<std::vector<PeerMarkerEntry>> peers =
      (*second)->maps().DumpPeers();
  ASSERT_TRUE(peers.ok());
  EXPECT_EQ(*peers, (std::vector<PeerMarkerEntry>{{Ip("192.168.1.2"), 3}}));
  ASSERT_TRUE(opened.ok()) << opened.status();
  absl::StatusOr<std::vector<IpAddress>> pods = (*opened)->DumpUnmanagedPods();
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(*pods, (std::vector<IpAddress>{Ip("10.244.1.5")}));
  absl::StatusOr<std::vector<IpPrefix>> cidrs = (*opened)->DumpEncryptCidrs();
  ASSERT_TRUE(cidrs.ok());
  EXPECT_EQ(*cidrs, (std::vector<IpPrefix>{*IpPrefix::Parse("10.244.1.0/24")}));
}

TEST_F(BpfMarkerMapsTest, PinDirectoryOutsideBpffsIsRefused) {
  const std::string dir = ::kmesh::testing::NewTestDirectory("not-bpffs");
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
      BpfMarkerLoader::Load(TestMarkerObjects(dir));
  rmdir(dir.c_str());
  EXPECT_EQ(loader.status().code(), absl::StatusCode::kFailedPrecondition)
      << loader.status();
  EXPECT_NE(loader.status().message().find("bpf filesystem"),
            absl::string_view::npos);
}

TEST(BpfMarkerLoaderLoadTest, UnprivilegedLoadSaysBpfIsNotPermitted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges from";
  // Copies of the objects that an unprivileged user can read.
  // Under /tmp: nobody may not reach $TEST_TMPDIR.
  absl::StatusOr<std::string> made =
      ::kmesh::testing::MakeTestDirectory("kmesh-unprivileged", "/tmp");
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string dir = *made;
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  BpfMarkerLoaderOptions options = TestMarkerObjects();
  for (std::string* path :
       {&options.encrypt_object_path, &options.decrypt_object_path}) {
    const std::string copy = absl::StrCat(
        dir, "/", std::filesystem::path(*path).filename().string());
    std::filesystem::copy_file(*path, copy);
    ASSERT_EQ(chmod(copy.c_str(), 0644), 0);
    *path = copy;
  }
  absl::StatusOr<std::string> message = testing::RunAsNobody([&options] {
    return std::string(BpfMarkerLoader::Load(options).status().ToString());
  });
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(message.ok()) << message.status();
  for (const char* part :
       {"PERMISSION_DENIED", "encrypt_marker.bpf.o",
        "BPF not permitted: run as root with CAP_BPF/CAP_NET_ADMIN"}) {
    EXPECT_NE(message->find(part), std::string::npos) << *message;
  }
}

TEST(BpfMarkerLoaderLoadTest, MissingObjectIsNotFoundNamingThePath) {
  BpfMarkerLoaderOptions options = TestMarkerObjects();
  options.decrypt_object_path = "bpf/no_such_object.bpf.o";
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
      BpfMarkerLoader::Load(options);
  EXPECT_EQ(loader.status().code(), absl::StatusCode::kNotFound)
      << loader.status();
  EXPECT_NE(loader.status().message().find("bpf/no_such_object.bpf.o"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace kmesh::linux_backend

#include "kmesh/kernel/refcounted_encrypt_attachment.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"

namespace kmesh {
namespace {

using ::kmesh::testing::Ip;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Interfaces by pod IP, like a node's routes; attach/detach can be made to
// fail, as the kernel may refuse them.
class FakeHooks : public InterfaceMarkerHooks {
 public:
  absl::StatusOr<std::string> InterfaceOf(const LocalPod& pod) override {
    for (const IpAddress& ip : pod.ips) {
      auto it = routes.find(ip.ToString());
      if (it != routes.end()) return it->second;
    }
    return absl::NotFoundError("no interface");
  }
  absl::Status AttachTo(const std::string& ifname) override {
    if (fail_attach) return absl::UnavailableError("injected attach failure");
    attached.insert(ifname);
    return absl::OkStatus();
  }
  absl::Status DetachFrom(const std::string& ifname) override {
    if (fail_detach) return absl::UnavailableError("injected detach failure");
    attached.erase(ifname);
    return absl::OkStatus();
  }
  std::map<std::string, std::string> routes;
  std::set<std::string> attached;
  bool fail_attach = false;
  bool fail_detach = false;
};

LocalPod Pod(const std::string& name, const std::string& ip) {
  return LocalPod{"default", name, {Ip(ip)}};
}

TEST(RefcountedEncryptAttachmentTest, OwnVethsAreIndependent) {
  FakeHooks hooks;
  hooks.routes = {{"10.244.1.2", "veth-a"}, {"10.244.1.3", "veth-b"}};
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  ASSERT_TRUE(attachment.Attach(Pod("b", "10.244.1.3")).ok());
  ASSERT_TRUE(attachment.Detach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(hooks.attached, ElementsAre("veth-b"));
}

TEST(RefcountedEncryptAttachmentTest, SharedBridgeStaysUntilTheLastPodGoes) {
  FakeHooks hooks;
  hooks.routes = {{"10.244.1.2", "cni0"}, {"10.244.1.3", "cni0"}};
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  ASSERT_TRUE(attachment.Attach(Pod("b", "10.244.1.3")).ok());
  ASSERT_TRUE(attachment.Attach(Pod("b", "10.244.1.3")).ok());  // Again.
  EXPECT_THAT(attachment.users("cni0"), ElementsAre("default/a", "default/b"));

  ASSERT_TRUE(attachment.Detach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(hooks.attached, ElementsAre("cni0"));
  ASSERT_TRUE(attachment.Detach(Pod("b", "10.244.1.3")).ok());
  EXPECT_THAT(hooks.attached, IsEmpty());
  EXPECT_THAT(attachment.users("cni0"), IsEmpty());
}

TEST(RefcountedEncryptAttachmentTest, FailedLastDetachKeepsTheCountForARetry) {
  FakeHooks hooks;
  hooks.routes = {{"10.244.1.2", "cni0"}};
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  hooks.fail_detach = true;
  EXPECT_FALSE(attachment.Detach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(attachment.users("cni0"), ElementsAre("default/a"));
  hooks.fail_detach = false;
  ASSERT_TRUE(attachment.Detach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(hooks.attached, IsEmpty());
}

TEST(RefcountedEncryptAttachmentTest, FailedAttachCountsNothing) {
  FakeHooks hooks;
  hooks.routes = {{"10.244.1.2", "cni0"}, {"10.244.1.3", "cni0"}};
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  hooks.fail_attach = true;
  EXPECT_FALSE(attachment.Attach(Pod("b", "10.244.1.3")).ok());
  hooks.fail_attach = false;
  // b never counted: a leaving detaches.
  ASSERT_TRUE(attachment.Detach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(hooks.attached, IsEmpty());
}

TEST(RefcountedEncryptAttachmentTest, UnknownPodDetachesOnlyAnUnusedInterface) {
  FakeHooks hooks;
  hooks.routes = {
      {"10.244.1.2", "cni0"}, {"10.244.1.9", "cni0"}, {"10.244.1.5", "veth-x"}};
  hooks.attached = {"veth-x"};  // Left by an earlier daemon.
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  ASSERT_TRUE(attachment.Detach(Pod("gone", "10.244.1.9")).ok());
  EXPECT_TRUE(hooks.attached.count("cni0"));
  ASSERT_TRUE(attachment.Detach(Pod("x", "10.244.1.5")).ok());
  EXPECT_FALSE(hooks.attached.count("veth-x"));
  // No interface at all: nothing to detach.
  EXPECT_TRUE(attachment.Detach(Pod("y", "10.9.9.9")).ok());
}

TEST(RefcountedEncryptAttachmentTest, PodMovingInterfaceReleasesTheOldOne) {
  FakeHooks hooks;
  hooks.routes = {{"10.244.1.2", "veth-old"}};
  RefcountedEncryptAttachment attachment(&hooks);
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  hooks.routes["10.244.1.2"] = "veth-new";
  ASSERT_TRUE(attachment.Attach(Pod("a", "10.244.1.2")).ok());
  EXPECT_THAT(hooks.attached, ElementsAre("veth-new"));
}

}  // namespace
}  // namespace kmesh

#include "kvm/kvm_system.h"

#include <linux/kvm.h>

#include <cerrno>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/fake_kvm.h"
#include "kvm/test_util.h"

namespace skiff::kvm {
namespace {

using ::testing::HasSubstr;

TEST(KvmSystem, MissingDeviceSaysUseTcg) {
  auto kvm = KvmSystem::Create("/nonexistent/kvm");
  ASSERT_FALSE(kvm.ok());
  EXPECT_TRUE(absl::IsNotFound(kvm.status()));
  std::string message(kvm.status().message());
  EXPECT_THAT(message, HasSubstr("no /dev/kvm"));
  EXPECT_THAT(message,
              HasSubstr("/nonexistent/kvm: No such file or directory"));
  EXPECT_THAT(message, HasSubstr("--accel tcg"));
}

TEST(KvmSystem, PermissionDeniedNamesKvmGroup) {
  absl::Status s = KvmOpenError("/dev/kvm", EACCES);
  EXPECT_TRUE(absl::IsPermissionDenied(s));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("open /dev/kvm: Permission denied"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("kvm group"));
}

TEST(KvmSystem, OtherOpenErrors) {
  absl::Status s = KvmOpenError("/dev/kvm", EMFILE);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("Too many open files"));
  EXPECT_TRUE(absl::IsNotFound(KvmOpenError("/dev/kvm", ENXIO)));
}

TEST(KvmSystem, NotAKvmDevice) {
  auto kvm = KvmSystem::Create("/dev/null");
  ASSERT_FALSE(kvm.ok());
  EXPECT_THAT(std::string(kvm.status().message()),
              HasSubstr("KVM_GET_API_VERSION on /dev/null"));
}

TEST(KvmSystem, ApiVersionCheck) {
  EXPECT_TRUE(CheckApiVersion("/dev/kvm", 12).ok());
  absl::Status s = CheckApiVersion("/dev/kvm", 11);
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_EQ(s.message(),
            "KVM_GET_API_VERSION on /dev/kvm returned 11, skiff needs 12");
}

TEST(KvmSystem, MissingCapabilitiesAreNamed) {
  std::vector<std::string> missing = MissingCapabilities([](int cap) {
    return cap != KVM_CAP_IMMEDIATE_EXIT && cap != KVM_CAP_IRQFD;
  });
  EXPECT_THAT(missing, ::testing::ElementsAre("KVM_CAP_IMMEDIATE_EXIT",
                                              "KVM_CAP_IRQFD"));
  absl::Status s = MissingCapabilitiesError("/dev/kvm", missing);
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_EQ(s.message(),
            "KVM on /dev/kvm lacks required capabilities: "
            "KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_IRQFD; use --accel tcg");
  EXPECT_TRUE(MissingCapabilitiesError("/dev/kvm", {}).ok());
  EXPECT_TRUE(MissingCapabilities([](int) { return true; }).empty());
}

TEST(KvmSystem, RequiredCapabilitiesListTheBriefOnes) {
  std::set<std::string> names;
  for (const KvmCapability& c : RequiredCapabilities()) {
    names.insert(std::string(c.name));
  }
  for (const char* n :
       {"KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_USER_MEMORY", "KVM_CAP_IRQCHIP",
        "KVM_CAP_IOEVENTFD", "KVM_CAP_IRQFD", "KVM_CAP_EXT_CPUID"}) {
    EXPECT_EQ(names.count(n), 1u) << n;
  }
}

TEST(KvmSystem, FakePermissionDenied) {
  FakeKvm fake;
  fake.open_errno = EACCES;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_FALSE(kvm.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(kvm.status()));
  EXPECT_THAT(std::string(kvm.status().message()), HasSubstr("kvm group"));
}

TEST(KvmSystem, FakeWrongApiVersion) {
  FakeKvm fake;
  fake.api_version = 11;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_FALSE(kvm.ok());
  EXPECT_THAT(std::string(kvm.status().message()),
              HasSubstr("returned 11, skiff needs 12"));
}

TEST(KvmSystem, FakeMissingCapability) {
  FakeKvm fake;
  fake.caps.erase(KVM_CAP_IMMEDIATE_EXIT);
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_FALSE(kvm.ok());
  EXPECT_EQ(kvm.status().message(),
            "KVM on /dev/kvm lacks required capabilities: "
            "KVM_CAP_IMMEDIATE_EXIT; use --accel tcg");
}

TEST(KvmSystem, FakeTinyMmapSizeRejected) {
  FakeKvm fake;
  fake.mmap_size = 64;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_FALSE(kvm.ok());
  EXPECT_THAT(std::string(kvm.status().message()),
              HasSubstr("KVM_GET_VCPU_MMAP_SIZE returned 64"));
}

TEST(KvmSystem, FakeSupportedCpuidGrowsOnE2big) {
  FakeKvm fake;
  kvm_cpuid_entry2 e{};
  e.function = 0x80000000;
  fake.supported_cpuid.resize(300, e);  // more than the first 256 tried
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok()) << kvm.status();
  EXPECT_EQ((*kvm)->supported_cpuid().size(), 300u);
  EXPECT_EQ((*kvm)->supported_cpuid()[0].eax, 0xdu);
  EXPECT_EQ((*kvm)->vcpu_mmap_size(), 3u * 4096);
  EXPECT_EQ((*kvm)->CheckExtension(KVM_CAP_MAX_VCPUS), 8);
  EXPECT_EQ((*kvm)->CheckExtension(9999), 0);
}

TEST(KvmSystem, OpensRealKvm) {
  SKIFF_KVM_OR_SKIP(kvm);
  EXPECT_GE(kvm->vcpu_mmap_size(), sizeof(kvm_run));
  EXPECT_FALSE(kvm->supported_cpuid().empty());
  EXPECT_GT(kvm->CheckExtension(KVM_CAP_USER_MEMORY), 0);
  auto again = kvm->GetSupportedCpuid();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), kvm->supported_cpuid().size());
  EXPECT_NE(FindCpuid(kvm->supported_cpuid(), 0), nullptr);
}

}  // namespace
}  // namespace skiff::kvm

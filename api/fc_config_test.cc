#include "api/fc_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::api {
namespace {

using ::testing::HasSubstr;

FcConfig WithKernel() {
  FcConfig c;
  c.boot_source = FcBootSource{.kernel_image_path = "vmlinux"};
  return c;
}

TEST(FcConfig, NoBootSourceIsAnError) {
  FcConfig c;
  absl::StatusOr<VmConfig> vm = c.ToVmConfig();
  ASSERT_FALSE(vm.ok());
  EXPECT_THAT(std::string(vm.status().message()), HasSubstr("boot-source"));
}

TEST(FcConfig, NoBootArgsNoRootKeepsDefaultCommandLine) {
  absl::StatusOr<VmConfig> vm = WithKernel().ToVmConfig();
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_FALSE(vm->cmdline_set);
  EXPECT_EQ(vm->memory_bytes, 128ull << 20);
}

TEST(FcConfig, BootArgsReplaceDefault) {
  FcConfig c = WithKernel();
  c.boot_source->boot_args = "quiet";
  absl::StatusOr<VmConfig> vm = c.ToVmConfig();
  ASSERT_TRUE(vm.ok());
  EXPECT_TRUE(vm->cmdline_set);
  EXPECT_EQ(vm->cmdline, "quiet");
  c.boot_source->boot_args = "";
  vm = c.ToVmConfig();
  ASSERT_TRUE(vm.ok());
  EXPECT_TRUE(vm->cmdline_set);  // empty boot_args: an empty command line
  EXPECT_EQ(vm->cmdline, "");
}

TEST(FcConfig, RootDeviceWithoutBootArgsExtendsDefault) {
  FcConfig c = WithKernel();
  c.drives.push_back({.drive_id = "r",
                      .path_on_host = "r.img",
                      .is_root_device = true,
                      .is_read_only = true});
  absl::StatusOr<VmConfig> vm = c.ToVmConfig();
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->cmdline, std::string(kDefaultBootArgs) + " root=/dev/vda ro");
  EXPECT_TRUE(vm->disks[0].read_only);
}

TEST(FcConfig, PartuuidSelectsRootByPartition) {
  FcConfig c = WithKernel();
  c.boot_source->boot_args = "console=ttyS0";
  c.drives.push_back({.drive_id = "a", .path_on_host = "a.img"});
  c.drives.push_back({.drive_id = "r",
                      .path_on_host = "r.img",
                      .is_root_device = true,
                      .partuuid = "0eaa91a0-01"});
  absl::StatusOr<VmConfig> vm = c.ToVmConfig();
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->cmdline, "console=ttyS0 root=PARTUUID=0eaa91a0-01 rw");
  ASSERT_EQ(vm->disks.size(), 2u);
  EXPECT_EQ(vm->disks[0].id, "r");
  EXPECT_EQ(vm->disks[1].id, "a");
}

TEST(FcConfig, IdsAndMacs) {
  EXPECT_TRUE(IsValidFcId("rootfs_1"));
  EXPECT_FALSE(IsValidFcId(""));
  EXPECT_FALSE(IsValidFcId("a-b"));
  EXPECT_FALSE(IsValidFcId(std::string(65, 'a')));
  std::array<uint8_t, 6> mac;
  EXPECT_TRUE(ParseMac("06:00:AC:10:00:02", &mac));
  EXPECT_EQ(mac[2], 0xac);
  EXPECT_FALSE(ParseMac("06:00:AC:10:00", &mac));
  EXPECT_FALSE(ParseMac("06:00:AC:10:00:2", &mac));
  EXPECT_FALSE(ParseMac("06:00:AC:10:00:0x", &mac));
  EXPECT_FALSE(ParseMac("+6:00:AC:10:00:02", &mac));
}

TEST(FcConfig, FromVmConfigRoundTrips) {
  VmConfig vm;
  vm.kernel_path = "k";
  vm.cmdline = "console=ttyS0";
  vm.cmdline_set = true;
  vm.vcpus = 2;
  vm.memory_bytes = 256ull << 20;
  vm.disks.push_back({.id = "disk0", .path = "/d", .read_only = true});
  vm.nets.push_back({.id = "net0",
                     .tap = "tap0",
                     .mac = {0x02, 0, 0, 0, 0, 0xab},
                     .mac_set = true});
  vm.vsock = {.enabled = true, .guest_cid = 5, .uds_path = "/v"};
  vm.rng = true;
  FcConfig fc = FcConfigFromVmConfig(vm);
  EXPECT_EQ(fc.network_interfaces[0].guest_mac, "02:00:00:00:00:ab");
  absl::StatusOr<VmConfig> back = fc.ToVmConfig();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->cmdline, "console=ttyS0");
  EXPECT_EQ(back->vcpus, 2);
  EXPECT_EQ(back->memory_bytes, 256ull << 20);
  EXPECT_EQ(back->disks[0].path, "/d");
  EXPECT_TRUE(back->disks[0].read_only);
  EXPECT_EQ(back->nets[0].mac[5], 0xab);
  EXPECT_EQ(back->vsock.guest_cid, 5u);
  EXPECT_TRUE(back->rng);
}

TEST(FcLogger, Levels) {
  FcLogger l;
  EXPECT_EQ(l.log_level(), LogLevel::kInfo);
  l.level = "Trace";
  EXPECT_EQ(l.log_level(), LogLevel::kDebug);
  l.level = "Off";
  EXPECT_EQ(l.log_level(), LogLevel::kOff);
}

}  // namespace
}  // namespace skiff::api

#include "vmm/device_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

using ::testing::HasSubstr;

TEST(ParseDiskFlag, KeysAndDefaultId) {
  auto disk = ParseDiskFlag("path=a.img,readonly=on,direct=on", 2);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_EQ(disk->path, "a.img");
  EXPECT_TRUE(disk->read_only);
  EXPECT_TRUE(disk->direct);
  EXPECT_TRUE(disk->gather);
  EXPECT_EQ(disk->id, "disk2");

  disk = ParseDiskFlag("path=a.img,direct=on,gather=off", 0);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_FALSE(disk->gather);

  disk = ParseDiskFlag("b.img,id=root", 0);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_EQ(disk->path, "b.img");
  EXPECT_EQ(disk->id, "root");
  EXPECT_FALSE(disk->read_only);
}

TEST(ParseDiskFlag, RejectsBadInput) {
  EXPECT_THAT(ParseDiskFlag("readonly=on", 0).status().message(),
              HasSubstr("path= is empty"));
  EXPECT_THAT(ParseDiskFlag("path=a,size=3", 0).status().message(),
              HasSubstr("unknown key 'size'"));
  EXPECT_FALSE(ParseDiskFlag("path=a,readonly=maybe", 0).ok());
  EXPECT_FALSE(ParseDiskFlag("path=a,gather=sometimes", 0).ok());
  EXPECT_FALSE(ParseDiskFlag("path=a,id=", 0).ok());
}

TEST(ParseMac, AcceptsUnicastOnly) {
  auto mac = ParseMac("02:aB:00:00:10:ff");
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ((*mac)[1], 0xab);
  EXPECT_EQ((*mac)[5], 0xff);
  EXPECT_THAT(ParseMac("03:00:00:00:00:01").status().message(),
              HasSubstr("multicast"));
  EXPECT_FALSE(ParseMac("02:00:00:00:00").ok());
  EXPECT_FALSE(ParseMac("02:00:00:00:00:0g").ok());
  EXPECT_FALSE(ParseMac("02:00:00:00:00:001").ok());
}

TEST(ParseNetFlag, KeysAndDefaultId) {
  auto net = ParseNetFlag("tap=tap0,mac=02:00:00:00:00:01", 1);
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ(net->tap, "tap0");
  EXPECT_TRUE(net->mac_set);
  EXPECT_EQ(net->mac[5], 1);
  EXPECT_EQ(net->id, "net1");
  EXPECT_FALSE(ParseNetFlag("mac=02:00:00:00:00:01", 0).ok());
  EXPECT_FALSE(ParseNetFlag("tap=t,queues=4", 0).ok());
}

TEST(ParseVsockFlag, NeedsCidAboveTwoAndSocket) {
  auto vsock = ParseVsockFlag("cid=7,uds=/tmp/v.sock");
  ASSERT_TRUE(vsock.ok()) << vsock.status();
  EXPECT_TRUE(vsock->enabled);
  EXPECT_EQ(vsock->guest_cid, 7u);
  EXPECT_EQ(vsock->uds_path, "/tmp/v.sock");
  EXPECT_FALSE(ParseVsockFlag("cid=2,uds=/tmp/v").ok());
  EXPECT_FALSE(ParseVsockFlag("cid=3").ok());
  EXPECT_FALSE(ParseVsockFlag("3,uds=/tmp/v").ok());
}

TEST(VmConfigDevices, RejectsDuplicateIds) {
  VmConfig config;
  config.kernel_path = "k";
  config.disks.push_back(*ParseDiskFlag("path=a", 0));
  config.disks.push_back(*ParseDiskFlag("path=b,id=disk0", 1));
  EXPECT_THAT(config.Validate().message(), HasSubstr("used twice"));
  config.disks.pop_back();
  EXPECT_TRUE(config.Validate().ok());
  config.nets.push_back(*ParseNetFlag("tap=averyveryverylongtap", 0));
  EXPECT_THAT(config.Validate().message(), HasSubstr("longer than 15"));
}

}  // namespace
}  // namespace skiff

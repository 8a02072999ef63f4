#include "api/config_file.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "api/fc_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::api {
namespace {

using ::testing::HasSubstr;

// The example from Firecracker's docs/getting-started.md, plus the other
// sections.
constexpr char kExample[] = R"({
  "boot-source": {
    "kernel_image_path": "vmlinux.bin",
    "boot_args": "console=ttyS0 reboot=k panic=1 pci=off",
    "initrd_path": null
  },
  "drives": [
    {"drive_id": "rootfs", "partuuid": null, "is_root_device": true,
     "cache_type": "Unsafe", "is_read_only": false,
     "path_on_host": "bionic.rootfs.ext4", "io_engine": "Sync",
     "rate_limiter": null, "socket": null}
  ],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 1024, "smt": false,
                     "track_dirty_pages": false, "huge_pages": "None"},
  "cpu-config": null,
  "balloon": null,
  "network-interfaces": [
    {"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02",
     "host_dev_name": "tap0"}
  ],
  "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock"},
  "logger": {"level": "Info", "log_path": "/tmp/fc.log"},
  "metrics": {"metrics_path": "/tmp/metrics"},
  "mmds-config": null,
  "entropy": {}
})";

std::string Error(const std::string& text) {
  absl::StatusOr<FcConfig> c = ParseConfigFile(text);
  EXPECT_FALSE(c.ok()) << text;
  if (c.ok()) return "";
  std::string message(c.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos);
  return message;
}

TEST(ConfigFile, ParsesFirecrackerExample) {
  absl::StatusOr<FcConfig> c = ParseConfigFile(kExample);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->boot_source.has_value());
  EXPECT_EQ(c->boot_source->kernel_image_path, "vmlinux.bin");
  ASSERT_EQ(c->drives.size(), 1u);
  EXPECT_TRUE(c->drives[0].is_root_device);
  EXPECT_EQ(c->machine_config.vcpu_count, 2);
  EXPECT_EQ(c->machine_config.mem_size_mib, 1024u);
  ASSERT_EQ(c->network_interfaces.size(), 1u);
  EXPECT_TRUE(c->vsock.has_value());
  EXPECT_TRUE(c->entropy);
  EXPECT_EQ(c->logger->log_path, "/tmp/fc.log");
  EXPECT_EQ(c->metrics->metrics_path, "/tmp/metrics");

  absl::StatusOr<VmConfig> vm = c->ToVmConfig();
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->cmdline,
            "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw");
  EXPECT_EQ(vm->vcpus, 2);
  EXPECT_EQ(vm->disks[0].path, "bionic.rootfs.ext4");
  EXPECT_EQ(vm->nets[0].tap, "tap0");
  EXPECT_TRUE(vm->rng);
}

TEST(ConfigFile, MinimalFileUsesDefaults) {
  absl::StatusOr<FcConfig> c =
      ParseConfigFile(R"({"boot-source": {"kernel_image_path": "k"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<VmConfig> vm = c->ToVmConfig();
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_FALSE(vm->cmdline_set);
  EXPECT_EQ(vm->memory_bytes, 128ull << 20);
  EXPECT_EQ(vm->vcpus, 1);
}

TEST(ConfigFile, ErrorsNameTheField) {
  EXPECT_THAT(Error("{}"), HasSubstr("boot-source: missing"));
  EXPECT_THAT(Error("not json"), HasSubstr("invalid JSON"));
  EXPECT_THAT(Error("[]"), HasSubstr("expected a JSON object"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": 1}})"),
              HasSubstr("boot-source: kernel_image_path: expected a string"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": "k"},
                       "drives": [
                         {"drive_id": "a", "path_on_host": "a", "is_root_device": false},
                         {"drive_id": "b", "path_on_host": 5, "is_root_device": false}]})"),
              HasSubstr("drives[1]: path_on_host: expected a string"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": "k"},
                       "drives": [
                         {"drive_id": "a", "path_on_host": "a", "is_root_device": false},
                         {"drive_id": "a", "path_on_host": "b", "is_root_device": false}]})"),
              HasSubstr("drives[1]: drive_id: a is given twice"));
  EXPECT_THAT(
      Error(R"({"boot-source": {"kernel_image_path": "k"}, "drives": {}})"),
      HasSubstr("drives: expected an array"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": "k"},
                       "network-interfaces": [{"iface_id": "x y", "host_dev_name": "t"}]})"),
              HasSubstr("network-interfaces[0]: iface_id"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": "k"},
                       "machine-config": {"vcpu_count": 1}})"),
              HasSubstr("machine-config: mem_size_mib: missing"));
  EXPECT_THAT(Error(R"({"boot-source": {"kernel_image_path": "k"},
                       "machine-config": {"vcpu_count": 1, "mem_size_mib": 128,
                                          "smt": true}})"),
              HasSubstr("machine-config: smt"));
  EXPECT_THAT(
      Error(
          R"({"boot-source": {"kernel_image_path": "k"}, "vsock": {"guest_cid": 1, "uds_path": "u"}})"),
      HasSubstr("vsock: guest_cid"));
  EXPECT_THAT(
      Error(
          R"({"boot-source": {"kernel_image_path": "k"}, "logger": {"level": 3}})"),
      HasSubstr("logger: level"));
  EXPECT_THAT(
      Error(R"({"boot-source": {"kernel_image_path": "k"}, "metrics": {}})"),
      HasSubstr("metrics: metrics_path: missing"));
  EXPECT_THAT(
      Error(
          R"({"boot-source": {"kernel_image_path": "k"}, "entropy": {"rate_limiter": {"ops": {"size": 1}}}})"),
      HasSubstr("entropy: rate_limiter"));
  EXPECT_THAT(
      Error(
          R"({"boot-source": {"kernel_image_path": "k"}, "balloon": {"amount_mib": 1}})"),
      HasSubstr("balloon: not supported"));
  EXPECT_THAT(
      Error(R"({"boot-source": {"kernel_image_path": "k"}, "bogus": 1})"),
      HasSubstr("bogus: unknown section"));
  EXPECT_THAT(Error(std::string(40, '[') + std::string(40, ']')),
              HasSubstr("nested"));
}

TEST(ConfigFile, LoadFromDisk) {
  char tmpl[] = "/tmp/skiff_config_test.XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  std::string text = kExample;
  ASSERT_EQ(::write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  ::close(fd);
  absl::StatusOr<FcConfig> c = LoadConfigFile(tmpl);
  EXPECT_TRUE(c.ok()) << c.status();

  // Errors carry the file name.
  FILE* f = std::fopen(tmpl, "w");
  std::fputs("{\"boot-source\": 7}", f);
  std::fclose(f);
  c = LoadConfigFile(tmpl);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr(std::string("config file ") + tmpl + ": boot-source"));

  // Oversized files are refused.
  f = std::fopen(tmpl, "w");
  std::string big(kMaxConfigFileBytes + 1, ' ');
  std::fwrite(big.data(), 1, big.size(), f);
  std::fclose(f);
  c = LoadConfigFile(tmpl);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("larger than"));
  ::unlink(tmpl);

  c = LoadConfigFile("/nonexistent/skiff.json");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("/nonexistent/skiff.json"));
}

}  // namespace
}  // namespace skiff::api

#include "api/firecracker_api.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "api/config_file.h"
#include "api/fake_vm_controller.h"
#include "api/fc_json.h"
#include "api/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBoot[] =
    R"({"kernel_image_path": "/k/vmlinux", "boot_args": "console=ttyS0"})";
constexpr char kRootDrive[] =
    R"({"drive_id": "rootfs", "path_on_host": "/d/root.ext4",
        "is_root_device": true, "is_read_only": false})";

class ApiTest : public ::testing::Test {
 protected:
  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    return api_.Handle(HttpRequest{method, path, body});
  }
  // The fault message of a 400, or "" with a test failure otherwise.
  std::string Bad(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    HttpResponse r = Call(method, path, body);
    EXPECT_EQ(r.status, 400) << method << " " << path << " " << body;
    absl::StatusOr<Json> j = ParseJsonText(r.body);
    if (!j.ok() || !j->is_object() || !j->contains("fault_message") ||
        !(*j)["fault_message"].is_string()) {
      ADD_FAILURE() << "no fault_message in " << r.body;
      return "";
    }
    std::string message = (*j)["fault_message"].get<std::string>();
    EXPECT_EQ(message.find('\n'), std::string::npos);
    return message;
  }
  void Ok(const std::string& method, const std::string& path,
          const std::string& body = "") {
    HttpResponse r = Call(method, path, body);
    EXPECT_EQ(r.status, 204)
        << method << " " << path << " " << body << " -> " << r.body;
  }
  Json Get(const std::string& path) {
    HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 200) << path;
    absl::StatusOr<Json> j = ParseJsonText(r.body);
    EXPECT_TRUE(j.ok()) << r.body;
    return j.ok() ? *j : Json();
  }
  void Boot() {
    Ok("PUT", "/boot-source", kBoot);
    Ok("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  }

  FakeVmController fake_;
  FirecrackerApi api_{&fake_, ApiOptions{.instance_id = "vm1"}};
};

TEST_F(ApiTest, InstanceInfoAndVersion) {
  Json info = Get("/");
  EXPECT_EQ(info["id"], "vm1");
  EXPECT_EQ(info["state"], "Not started");
  EXPECT_EQ(info["vmm_version"], "0.1.0");
  EXPECT_EQ(info["app_name"], "skiff");
  EXPECT_EQ(Get("/version")["firecracker_version"], "0.1.0");
  Boot();
  EXPECT_EQ(Get("/")["state"], "Running");
  Ok("PATCH", "/vm", R"({"state": "Paused"})");
  EXPECT_EQ(Get("/")["state"], "Paused");
}

TEST_F(ApiTest, RoutingErrors) {
  EXPECT_EQ(Call("GET", "/nope").status, 404);
  EXPECT_EQ(Call("GET", "nope").status, 404);
  EXPECT_EQ(Call("GET", "/vm/config/x").status, 404);
  EXPECT_EQ(Call("DELETE", "/").status, 405);
  EXPECT_EQ(Call("GET", "/boot-source").status, 405);
  EXPECT_EQ(Call("PUT", "/vm").status, 405);
  EXPECT_EQ(Call("POST", "/actions").status, 405);
  EXPECT_THAT(Bad("PUT", "/balloon", "{}"), HasSubstr("not supported"));
  EXPECT_THAT(Bad("PUT", "/drives", kRootDrive), HasSubstr("missing id"));
  EXPECT_THAT(Bad("PUT", "/drives/", kRootDrive), HasSubstr("missing id"));
  EXPECT_THAT(Bad("PUT", "/drives/a-b", kRootDrive),
              HasSubstr("id in the path"));
}

TEST_F(ApiTest, BodyErrors) {
  EXPECT_THAT(Bad("PUT", "/boot-source", ""), HasSubstr("empty"));
  EXPECT_THAT(Bad("PUT", "/boot-source", "{"), HasSubstr("invalid JSON"));
  EXPECT_THAT(Bad("PUT", "/boot-source", "[1]"), HasSubstr("JSON object"));
  EXPECT_THAT(Bad("PUT", "/boot-source", std::string(100, '[')),
              HasSubstr("nested"));
  // A control character in a key comes back escaped, on one line.
  EXPECT_THAT(Bad("PUT", "/boot-source", "{\"a\\nb\": 1}"),
              HasSubstr("a\\x0ab: unknown field"));
}

TEST_F(ApiTest, BootSource) {
  Ok("PUT", "/boot-source",
     R"({"kernel_image_path": "k", "initrd_path": "i", "boot_args": "x=1"})");
  FcConfig c = api_.config();
  ASSERT_TRUE(c.boot_source.has_value());
  EXPECT_EQ(c.boot_source->kernel_image_path, "k");
  EXPECT_EQ(c.boot_source->initrd_path, "i");
  EXPECT_EQ(c.boot_source->boot_args, "x=1");
  EXPECT_THAT(Bad("PUT", "/boot-source", R"({"boot_args": "x"})"),
              HasSubstr("kernel_image_path: missing"));
  EXPECT_THAT(Bad("PUT", "/boot-source", R"({"kernel_image_path": 3})"),
              HasSubstr("kernel_image_path: expected a string"));
  EXPECT_THAT(Bad("PUT", "/boot-source", R"({"kernel_image_path": ""})"),
              HasSubstr("kernel_image_path: empty"));
  EXPECT_THAT(
      Bad("PUT", "/boot-source", R"({"kernel_image_path": "a\u0000b"})"),
      HasSubstr("NUL"));
  EXPECT_THAT(
      Bad("PUT", "/boot-source", R"({"kernel_image_path": "k", "extra": 1})"),
      HasSubstr("extra: unknown field"));
  Boot();
  EXPECT_THAT(Bad("PUT", "/boot-source", kBoot), HasSubstr("after starting"));
}

TEST_F(ApiTest, MachineConfig) {
  Json m = Get("/machine-config");
  EXPECT_EQ(m["vcpu_count"], 1);
  EXPECT_EQ(m["mem_size_mib"], 128);
  EXPECT_EQ(m["smt"], false);
  Ok("PUT", "/machine-config",
     R"({"vcpu_count": 2, "mem_size_mib": 256, "smt": false,
         "track_dirty_pages": false, "cpu_template": "None"})");
  Ok("PATCH", "/machine-config", R"({"vcpu_count": 4})");
  m = Get("/machine-config");
  EXPECT_EQ(m["vcpu_count"], 4);
  EXPECT_EQ(m["mem_size_mib"], 256);
  EXPECT_THAT(Bad("PUT", "/machine-config", R"({"vcpu_count": 2})"),
              HasSubstr("mem_size_mib: missing"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"smt": true})"),
              HasSubstr("smt"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"track_dirty_pages": true})"),
              HasSubstr("track_dirty_pages"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"vcpu_count": 0})"),
              HasSubstr("vcpu_count: 0 is outside 1..64"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"vcpu_count": -1})"),
              HasSubstr("vcpu_count"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"vcpu_count": 1.5})"),
              HasSubstr("vcpu_count: expected an integer"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"vcpu_count": "2"})"),
              HasSubstr("vcpu_count: expected an integer"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"mem_size_mib": 8})"),
              HasSubstr("mem_size_mib"));
  EXPECT_THAT(
      Bad("PATCH", "/machine-config", R"({"mem_size_mib": 99999999999999})"),
      HasSubstr("mem_size_mib"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"cpu_template": "T2"})"),
              HasSubstr("cpu_template"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"cpu_template": "Z"})"),
              HasSubstr("not one of"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"huge_pages": "2M"})"),
              HasSubstr("huge_pages"));
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"smt": 1})"),
              HasSubstr("smt: expected true or false"));
  // Failed requests changed nothing.
  EXPECT_EQ(Get("/machine-config")["vcpu_count"], 4);
  Boot();
  EXPECT_THAT(Bad("PATCH", "/machine-config", R"({"vcpu_count": 2})"),
              HasSubstr("after starting"));
  EXPECT_EQ(Get("/machine-config")["vcpu_count"], 4);
}

TEST_F(ApiTest, DrivesPut) {
  Ok("PUT", "/drives/rootfs", kRootDrive);
  Ok("PUT", "/drives/data",
     R"({"drive_id": "data", "path_on_host": "/d/data", "is_root_device": false,
         "is_read_only": true, "cache_type": "Writeback", "io_engine": "Async",
         "rate_limiter": {"bandwidth": null}})");
  // PUT again replaces.
  Ok("PUT", "/drives/data",
     R"({"drive_id": "data", "path_on_host": "/d/data2", "is_root_device": false})");
  FcConfig c = api_.config();
  ASSERT_EQ(c.drives.size(), 2u);
  EXPECT_EQ(c.drives[1].path_on_host, "/d/data2");

  EXPECT_THAT(Bad("PUT", "/drives/other", kRootDrive),
              HasSubstr("differs from the id in the path"));
  EXPECT_THAT(Bad("PUT", "/drives/r2",
                  R"({"drive_id": "r2", "path_on_host": "x",
                      "is_root_device": true})"),
              HasSubstr("already the root device"));
  EXPECT_THAT(
      Bad("PUT", "/drives/x", R"({"drive_id": "x", "is_root_device": false})"),
      HasSubstr("path_on_host: missing"));
  EXPECT_THAT(
      Bad("PUT", "/drives/x", R"({"drive_id": "x", "path_on_host": "p"})"),
      HasSubstr("is_root_device: missing"));
  EXPECT_THAT(Bad("PUT", "/drives/x",
                  R"({"drive_id": "x", "path_on_host": "p",
                      "is_root_device": false,
                      "rate_limiter": {"ops": {"size": 1, "refill_time": 1}}})"),
              HasSubstr("rate_limiter: rate limiting is not supported"));
  EXPECT_THAT(
      Bad("PUT", "/drives/x",
          R"({"drive_id": "x", "socket": "/s", "is_root_device": false})"),
      HasSubstr("socket"));
  EXPECT_THAT(Bad("PUT", "/drives/x",
                  R"({"drive_id": "x", "path_on_host": "p",
                      "is_root_device": false, "io_engine": "Fast"})"),
              HasSubstr("io_engine"));
  EXPECT_THAT(Bad("PUT", "/drives/x",
                  R"({"drive_id": "x", "path_on_host": "p",
                      "is_root_device": true, "partuuid": "1 init=/bin/sh"})"),
              HasSubstr("partuuid"));
  Boot();
  EXPECT_THAT(Bad("PUT", "/drives/rootfs", kRootDrive),
              HasSubstr("after starting"));
}

TEST_F(ApiTest, DrivesPatch) {
  EXPECT_THAT(Bad("PATCH", "/drives/rootfs",
                  R"({"drive_id": "rootfs", "path_on_host": "/new"})"),
              HasSubstr("not configured"));
  Ok("PUT", "/drives/rootfs", kRootDrive);
  Ok("PATCH", "/drives/rootfs",
     R"({"drive_id": "rootfs", "path_on_host": "/pre"})");
  EXPECT_EQ(api_.config().drives[0].path_on_host, "/pre");
  EXPECT_TRUE(fake_.calls.empty());
  Boot();
  Ok("PATCH", "/drives/rootfs",
     R"({"drive_id": "rootfs", "path_on_host": "/post"})");
  EXPECT_EQ(fake_.calls.back(), "UpdateDrivePath rootfs /post");
  EXPECT_EQ(api_.config().drives[0].path_on_host, "/post");
  EXPECT_THAT(Bad("PATCH", "/drives/rootfs",
                  R"({"drive_id": "rootfs", "is_read_only": true})"),
              HasSubstr("is_read_only: unknown field"));
  EXPECT_THAT(Bad("PATCH", "/drives/rootfs",
                  R"({"drive_id": "rootfs",
                      "rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}})"),
              HasSubstr("rate_limiter"));
  fake_.fail_other = absl::NotFoundError("open /bad: No such file");
  EXPECT_THAT(Bad("PATCH", "/drives/rootfs",
                  R"({"drive_id": "rootfs", "path_on_host": "/bad"})"),
              HasSubstr("open /bad"));
  EXPECT_EQ(api_.config().drives[0].path_on_host, "/post");
}

TEST_F(ApiTest, NetworkInterfaces) {
  Ok("PUT", "/network-interfaces/eth0",
     R"({"iface_id": "eth0", "host_dev_name": "tap0",
         "guest_mac": "AA:FC:00:00:00:01"})");
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1",
                  R"({"iface_id": "eth1", "host_dev_name": "tap0"})"),
              HasSubstr("host_dev_name: tap0 is already used by eth0"));
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1",
                  R"({"iface_id": "eth1", "host_dev_name": "tap1",
                      "guest_mac": "aa:fc:00:00:00:01"})"),
              HasSubstr("guest_mac"));
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1",
                  R"({"iface_id": "eth1", "host_dev_name": "tap1",
                      "guest_mac": "zz:fc:00:00:00:01"})"),
              HasSubstr("guest_mac: expected"));
  EXPECT_THAT(
      Bad("PUT", "/network-interfaces/eth1",
          R"({"iface_id": "eth1", "host_dev_name": "tap1", "mtu": 9000})"),
      HasSubstr("mtu"));
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1",
                  R"({"iface_id": "eth1", "host_dev_name": "tap1",
                      "rx_rate_limiter": {"ops": {"size": 1}}})"),
              HasSubstr("rx_rate_limiter"));
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1", R"({"iface_id": "eth1"})"),
              HasSubstr("host_dev_name: missing"));
  EXPECT_THAT(
      Bad("PUT", "/network-interfaces/eth1",
          R"({"iface_id": "eth1", "host_dev_name": "a-very-long-tap-name"})"),
      HasSubstr("host_dev_name"));
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth1",
                  R"({"iface_id": "eth2", "host_dev_name": "tap2"})"),
              HasSubstr("differs"));
  Ok("PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0"})");
  EXPECT_THAT(
      Bad("PATCH", "/network-interfaces/eth9", R"({"iface_id": "eth9"})"),
      HasSubstr("not configured"));
  EXPECT_THAT(Bad("PATCH", "/network-interfaces/eth0",
                  R"({"iface_id": "eth0", "tx_rate_limiter": {"ops": {}}})"),
              HasSubstr("tx_rate_limiter"));
  Boot();
  EXPECT_THAT(Bad("PUT", "/network-interfaces/eth3",
                  R"({"iface_id": "eth3", "host_dev_name": "tap3"})"),
              HasSubstr("after starting"));
  ASSERT_EQ(fake_.started.nets.size(), 1u);
  EXPECT_EQ(fake_.started.nets[0].tap, "tap0");
  EXPECT_TRUE(fake_.started.nets[0].mac_set);
  EXPECT_EQ(fake_.started.nets[0].mac[0], 0xaa);
  EXPECT_EQ(fake_.started.nets[0].mac[5], 0x01);
}

TEST_F(ApiTest, VsockAndEntropy) {
  Ok("PUT", "/vsock", R"({"guest_cid": 3, "uds_path": "/tmp/v.sock"})");
  Ok("PUT", "/vsock",
     R"({"vsock_id": "old", "guest_cid": 7, "uds_path": "/tmp/v.sock"})");
  EXPECT_THAT(Bad("PUT", "/vsock", R"({"guest_cid": 2, "uds_path": "/v"})"),
              HasSubstr("guest_cid"));
  EXPECT_THAT(
      Bad("PUT", "/vsock", R"({"guest_cid": 4294967295, "uds_path": "/v"})"),
      HasSubstr("guest_cid"));
  EXPECT_THAT(Bad("PUT", "/vsock", R"({"guest_cid": 3})"),
              HasSubstr("uds_path: missing"));
  Ok("PUT", "/entropy", "{}");
  EXPECT_THAT(
      Bad("PUT", "/entropy", R"({"rate_limiter": {"ops": {"size": 5}}})"),
      HasSubstr("rate_limiter"));
  Boot();
  EXPECT_TRUE(fake_.started.rng);
  EXPECT_TRUE(fake_.started.vsock.enabled);
  EXPECT_EQ(fake_.started.vsock.guest_cid, 7u);
  EXPECT_EQ(fake_.started.vsock.uds_path, "/tmp/v.sock");
  EXPECT_THAT(Bad("PUT", "/vsock", R"({"guest_cid": 3, "uds_path": "/v"})"),
              HasSubstr("after starting"));
  EXPECT_THAT(Bad("PUT", "/entropy", "{}"), HasSubstr("after starting"));
}

TEST_F(ApiTest, LoggerAndMetrics) {
  Ok("PUT", "/logger",
     R"({"log_path": "/tmp/log", "level": "warning", "show_level": true,
         "show_log_origin": false})");
  EXPECT_THAT(fake_.calls, ElementsAre("ConfigureLogger Warning"));
  EXPECT_EQ(api_.config().logger->log_level(), LogLevel::kWarn);
  EXPECT_THAT(Bad("PUT", "/logger", R"({"level": "Loud"})"),
              HasSubstr("level"));
  Ok("PUT", "/metrics", R"({"metrics_path": "/tmp/metrics.fifo"})");
  EXPECT_EQ(fake_.calls.back(), "ConfigureMetrics /tmp/metrics.fifo");
  EXPECT_THAT(Bad("PUT", "/metrics", "{}"), HasSubstr("metrics_path: missing"));
  fake_.fail_other = absl::PermissionDeniedError("open /x: denied");
  EXPECT_THAT(Bad("PUT", "/metrics", R"({"metrics_path": "/x"})"),
              HasSubstr("denied"));
  EXPECT_EQ(api_.config().metrics->metrics_path, "/tmp/metrics.fifo");
  fake_.fail_other = absl::OkStatus();
  Boot();
  EXPECT_THAT(Bad("PUT", "/logger", "{}"), HasSubstr("after starting"));
  EXPECT_THAT(Bad("PUT", "/metrics", R"({"metrics_path": "/y"})"),
              HasSubstr("after starting"));
}

TEST_F(ApiTest, InstanceStartBuildsVmConfig) {
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "InstanceStart"})"),
              HasSubstr("boot-source"));
  EXPECT_TRUE(fake_.calls.empty());
  Ok("PUT", "/boot-source", kBoot);
  Ok("PUT", "/drives/data",
     R"({"drive_id": "data", "path_on_host": "/d/data", "is_root_device": false,
         "is_read_only": true})");
  Ok("PUT", "/drives/rootfs", kRootDrive);
  Ok("PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})");
  Ok("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  const VmConfig& vm = fake_.started;
  EXPECT_EQ(vm.kernel_path, "/k/vmlinux");
  EXPECT_TRUE(vm.cmdline_set);
  EXPECT_EQ(vm.cmdline, "console=ttyS0 root=/dev/vda rw");
  EXPECT_EQ(vm.vcpus, 2);
  EXPECT_EQ(vm.memory_bytes, 256ull << 20);
  ASSERT_EQ(vm.disks.size(), 2u);
  EXPECT_EQ(vm.disks[0].id, "rootfs");  // root first: /dev/vda
  EXPECT_EQ(vm.disks[1].id, "data");
  EXPECT_TRUE(vm.disks[1].read_only);
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "InstanceStart"})"),
              HasSubstr("already running"));
}

TEST_F(ApiTest, FailedStartStaysNotStarted) {
  Ok("PUT", "/boot-source", kBoot);
  fake_.fail_start = absl::InternalError("KVM_CREATE_VM: no device");
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "InstanceStart"})"),
              HasSubstr("InstanceStart: KVM_CREATE_VM"));
  EXPECT_EQ(api_.state(), FirecrackerApi::State::kNotStarted);
  fake_.fail_start = absl::OkStatus();
  Ok("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(api_.state(), FirecrackerApi::State::kRunning);
}

TEST_F(ApiTest, OtherActions) {
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})"),
              HasSubstr("not running"));
  Ok("PUT", "/actions", R"({"action_type": "FlushMetrics"})");
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "Reboot"})"),
              HasSubstr("not one of"));
  EXPECT_THAT(Bad("PUT", "/actions", "{}"), HasSubstr("action_type: missing"));
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": 1})"),
              HasSubstr("expected a string"));
  EXPECT_THAT(
      Bad("PUT", "/actions", R"({"action_type": "FlushMetrics", "x": 1})"),
      HasSubstr("x: unknown field"));
  Boot();
  Ok("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})");
  EXPECT_THAT(fake_.calls,
              ElementsAre("FlushMetrics", "Start", "SendCtrlAltDel"));
  fake_.fail_other = absl::InternalError("metrics file gone");
  EXPECT_THAT(Bad("PUT", "/actions", R"({"action_type": "FlushMetrics"})"),
              HasSubstr("metrics file gone"));
}

TEST_F(ApiTest, PauseResume) {
  EXPECT_THAT(Bad("PATCH", "/vm", R"({"state": "Paused"})"),
              HasSubstr("not been started"));
  Boot();
  Ok("PATCH", "/vm", R"({"state": "Paused"})");
  Ok("PATCH", "/vm", R"({"state": "Paused"})");  // already: no second call
  EXPECT_EQ(api_.state(), FirecrackerApi::State::kPaused);
  Ok("PATCH", "/vm", R"({"state": "Resumed"})");
  EXPECT_EQ(api_.state(), FirecrackerApi::State::kRunning);
  EXPECT_THAT(fake_.calls, ElementsAre("Start", "Pause", "Resume"));
  EXPECT_THAT(Bad("PATCH", "/vm", R"({"state": "Stopped"})"),
              HasSubstr("state"));
  EXPECT_THAT(Bad("PATCH", "/vm", R"({"state": true})"), HasSubstr("state"));
  EXPECT_THAT(Bad("PATCH", "/vm", "{}"), HasSubstr("state: missing"));
  fake_.fail_other = absl::InternalError("vcpu stuck");
  EXPECT_THAT(Bad("PATCH", "/vm", R"({"state": "Paused"})"),
              HasSubstr("vcpu stuck"));
  EXPECT_EQ(api_.state(), FirecrackerApi::State::kRunning);
}

TEST_F(ApiTest, AttachRunningServesPostBootOnly) {
  FcConfig fc;
  fc.boot_source = FcBootSource{.kernel_image_path = "k"};
  fc.drives.push_back({.drive_id = "disk0", .path_on_host = "/d"});
  ASSERT_TRUE(api_.AttachRunning(fc).ok());
  EXPECT_EQ(Get("/")["state"], "Running");
  EXPECT_EQ(Get("/vm/config")["drives"][0]["drive_id"], "disk0");
  EXPECT_THAT(Bad("PUT", "/boot-source", kBoot), HasSubstr("after starting"));
  Ok("PATCH", "/drives/disk0",
     R"({"drive_id": "disk0", "path_on_host": "/e"})");
  Ok("PATCH", "/vm", R"({"state": "Paused"})");
  EXPECT_THAT(fake_.calls, ElementsAre("UpdateDrivePath disk0 /e", "Pause"));
  EXPECT_FALSE(api_.AttachRunning(fc).ok());
}

TEST_F(ApiTest, VmConfigRoundTripsThroughConfigFile) {
  Ok("PUT", "/boot-source",
     R"({"kernel_image_path": "/k", "initrd_path": "/i", "boot_args": "a=b"})");
  Ok("PUT", "/drives/rootfs", kRootDrive);
  Ok("PUT", "/drives/d2",
     R"({"drive_id": "d2", "path_on_host": "/d2", "is_root_device": false,
         "is_read_only": true, "io_engine": "Async"})");
  Ok("PUT", "/network-interfaces/eth0",
     R"({"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "02:00:00:00:00:01"})");
  Ok("PUT", "/machine-config", R"({"vcpu_count": 3, "mem_size_mib": 300})");
  Ok("PUT", "/vsock", R"({"guest_cid": 9, "uds_path": "/v"})");
  Ok("PUT", "/entropy", "{}");
  Ok("PUT", "/logger", R"({"level": "Debug"})");
  Ok("PUT", "/metrics", R"({"metrics_path": "/m"})");
  Json j = Get("/vm/config");
  EXPECT_EQ(j["boot-source"]["kernel_image_path"], "/k");
  EXPECT_EQ(j["drives"].size(), 2u);
  EXPECT_EQ(j["machine-config"]["vcpu_count"], 3);
  absl::StatusOr<FcConfig> parsed = ParseConfigFile(DumpJson(j));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(DumpJson(FcConfigToJson(*parsed)), DumpJson(j));
}

class ApiSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff_fc_api_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ::rmdir(dir_.c_str()); }
  std::string dir_;
};

// Firecracker's getting-started sequence, as curl would send it.
TEST_F(ApiSocketTest, GettingStartedSequenceOverSocket) {
  FakeVmController fake;
  FirecrackerApi api(&fake);
  const std::string path = dir_ + "/firecracker.socket";
  auto server = HttpServer::Create(
      path, [&api](const HttpRequest& r) { return api.Handle(r); });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto client = TestClient::Connect(path);
  ASSERT_TRUE(client.ok()) << client.status();
  struct Step {
    const char* method;
    const char* path;
    const char* body;
    int status;
  };
  const Step steps[] = {
      {"PUT", "/logger", R"({"log_path": "/tmp/fc.log", "level": "Debug"})",
       204},
      {"PUT", "/boot-source",
       R"({"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"})",
       204},
      {"PUT", "/drives/rootfs",
       R"({"drive_id": "rootfs", "path_on_host": "rootfs.ext4", "is_root_device": true, "is_read_only": false})",
       204},
      {"PUT", "/network-interfaces/net1",
       R"({"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "tap0"})",
       204},
      {"PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 1024})",
       204},
      {"PUT", "/actions", R"({"action_type": "InstanceStart"})", 204},
      {"GET", "/", "", 200},
      {"PUT", "/boot-source", R"({"kernel_image_path": "other"})", 400},
      {"GET", "/nothing", "", 404},
  };
  for (const Step& s : steps) {
    auto r = client->Request(s.method, s.path, s.body);
    ASSERT_TRUE(r.ok()) << s.path << ": " << r.status();
    EXPECT_EQ(r->status, s.status)
        << s.method << " " << s.path << " " << r->body;
    if (s.status == 204) {
      EXPECT_THAT(r->headers, Not(HasSubstr("Content-Length")));
    } else {
      EXPECT_THAT(r->headers, HasSubstr("Content-Type: application/json"));
    }
  }
  EXPECT_EQ(fake.started.cmdline,
            "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw");
  EXPECT_EQ(fake.started.memory_bytes, 1024ull << 20);
  (*server)->Stop();
}

}  // namespace
}  // namespace skiff::api

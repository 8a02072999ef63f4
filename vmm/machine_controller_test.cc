// MachineController and the `skiff fc` flags without booting anything: the
// lifecycle calls before and after a VM, the Start/Run hand-off when the
// Machine cannot be built, Cancel, and flag parsing.
#include "vmm/machine_controller.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/fc_main.h"

namespace skiff {
namespace {

using ::testing::HasSubstr;

TEST(MachineController, LifecycleCallsFailWithoutAVm) {
  auto c = MachineController::Create({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*c)->Resume().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*c)->SendCtrlAltDel().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE((*c)->FlushMetrics().ok());
  EXPECT_FALSE((*c)->UpdateDrivePath("rootfs", "/x").ok());
}

TEST(MachineController, MetricsPathMustNotBeEmpty) {
  auto c = MachineController::Create({});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->ConfigureMetrics({.metrics_path = ""}).ok());
  EXPECT_TRUE((*c)->ConfigureMetrics({.metrics_path = "/tmp/m"}).ok());
}

TEST(MachineController, LoggerRedirectCanBeRefused) {
  MachineController::Options options;
  options.allow_log_redirect = false;
  auto c = MachineController::Create(std::move(options));
  ASSERT_TRUE(c.ok());
  api::FcLogger logger;
  logger.log_path = "/tmp/never-opened.log";
  EXPECT_EQ((*c)->ConfigureLogger(logger).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MachineController, FailedStartIsReportedAndRunKeepsWaiting) {
  auto c = MachineController::Create({});
  ASSERT_TRUE(c.ok());
  int run_status = -1;
  std::thread runner([&] { run_status = (*c)->Run(-1); });
  VmConfig bad;  // no kernel: Machine::Create refuses it
  absl::Status st = (*c)->Start(bad);
  EXPECT_FALSE(st.ok());
  // Still waiting: a later InstanceStart could succeed. Cancel ends it.
  (*c)->Cancel(7);
  runner.join();
  EXPECT_EQ(run_status, 7);
  EXPECT_EQ((*c)->Start(bad).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FcFlags, ParsesFirecrackerFlags) {
  auto f = ParseFcFlags({"--api-sock", "/tmp/a.sock", "--id", "vm-1",
                         "--boot-timer", "--accel=tcg", "--seccomp", "off",
                         "--serial", "file=/tmp/c", "--shutdown-timeout", "3"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->api_sock, "/tmp/a.sock");
  EXPECT_EQ(f->id, "vm-1");
  EXPECT_TRUE(f->boot_timer);
  EXPECT_EQ(f->accel, Accel::kTcg);
  EXPECT_EQ(f->seccomp, SeccompMode::kOff);
  ASSERT_TRUE(f->serial.has_value());
  EXPECT_EQ(f->serial->path, "/tmp/c");
  EXPECT_EQ(f->shutdown_timeout, absl::Seconds(3));
}

TEST(FcFlags, RejectsBadInput) {
  EXPECT_FALSE(ParseFcFlags({"--no-api"}).ok());  // nothing would start a VM
  EXPECT_TRUE(ParseFcFlags({"--no-api", "--config-file", "vm.json"}).ok());
  EXPECT_FALSE(ParseFcFlags({"--id", "bad id"}).ok());
  EXPECT_FALSE(ParseFcFlags({"--accel", "xen"}).ok());
  EXPECT_FALSE(ParseFcFlags({"--api-sock"}).ok());
  EXPECT_FALSE(ParseFcFlags({"--no-api=1"}).ok());
  auto unknown = ParseFcFlags({"--bogus", "1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("--bogus"));
}

}  // namespace
}  // namespace skiff

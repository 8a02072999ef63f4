// A VmController that records calls and fails on request, for the API's
// tests and fuzzers.
//
//   FakeVmController fake;
//   FirecrackerApi api(&fake);
//   fake.fail_start = absl::InternalError("no kvm");
#ifndef SKIFF_API_FAKE_VM_CONTROLLER_H_
#define SKIFF_API_FAKE_VM_CONTROLLER_H_

#include <string>
#include <vector>

#include "api/firecracker_api.h"

namespace skiff::api {

class FakeVmController : public VmController {
 public:
  absl::Status Start(const VmConfig& config) override {
    calls.push_back("Start");
    if (fail_start.ok()) started = config;
    return fail_start;
  }
  absl::Status Pause() override { return Record("Pause"); }
  absl::Status Resume() override { return Record("Resume"); }
  absl::Status SendCtrlAltDel() override { return Record("SendCtrlAltDel"); }
  absl::Status FlushMetrics() override { return Record("FlushMetrics"); }
  absl::Status UpdateDrivePath(const std::string& id,
                               const std::string& path) override {
    return Record("UpdateDrivePath " + id + " " + path);
  }
  absl::Status ConfigureLogger(const FcLogger& logger) override {
    return Record("ConfigureLogger " + logger.level);
  }
  absl::Status ConfigureMetrics(const FcMetrics& metrics) override {
    return Record("ConfigureMetrics " + metrics.metrics_path);
  }

  std::vector<std::string> calls;
  VmConfig started;
  absl::Status fail_start;
  absl::Status fail_other;  // returned by every call but Start

 private:
  absl::Status Record(std::string call) {
    calls.push_back(std::move(call));
    return fail_other;
  }
};

}  // namespace skiff::api

#endif  // SKIFF_API_FAKE_VM_CONTROLLER_H_

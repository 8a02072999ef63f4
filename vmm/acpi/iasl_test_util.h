// Test-only helpers that run ACPICA's iasl (Debian package acpica-tools) on
// generated tables: disassemble a binary table (iasl -d) and compile a
// snippet of ASL to compare bytecode. Header-only; used by the acpi tests.
//
//   if (!IaslAvailable()) GTEST_SKIP() << "iasl not installed";
//   TempDir dir;
//   auto dsl = IaslDisassemble(dir, "dsdt", dsdt_bytes);
//   EXPECT_THAT(dsl->text, HasSubstr("LNRO0005"));
#ifndef SKIFF_VMM_ACPI_IASL_TEST_UTIL_H_
#define SKIFF_VMM_ACPI_IASL_TEST_UTIL_H_

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace skiff::acpi::testing {

// Runs `cmd` through the shell; returns its exit status and output
// (stdout and stderr).
inline int RunShell(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
    if (output != nullptr) output->append(buf, n);
  }
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool IaslAvailable() {
  return RunShell("command -v iasl >/dev/null", nullptr) == 0;
}

inline bool AcpiExecAvailable() {
  return RunShell("command -v acpiexec >/dev/null", nullptr) == 0;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/skiff_acpi_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

inline absl::Status WriteFile(const std::string& path,
                              const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()),
          static_cast<std::streamsize>(bytes.size()));
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

inline absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(f), {});
}

struct IaslResult {
  std::string text;    // the .dsl (disassembly) or nothing for compiles
  std::string output;  // what iasl printed
};

// Writes `bytes` to <dir>/<name>.dat and disassembles it.
inline absl::StatusOr<IaslResult> IaslDisassemble(
    const TempDir& dir, const std::string& name,
    const std::vector<uint8_t>& bytes) {
  const std::string dat = dir.path() + "/" + name + ".dat";
  absl::Status s = WriteFile(dat, bytes);
  if (!s.ok()) return s;
  IaslResult r;
  int rc = RunShell("cd '" + dir.path() + "' && iasl -d '" + name + ".dat'",
                    &r.output);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("iasl -d ", name, " exited ", rc, ":\n", r.output));
  }
  absl::StatusOr<std::string> dsl = ReadFile(dir.path() + "/" + name + ".dsl");
  if (!dsl.ok()) return dsl.status();
  r.text = *dsl;
  return r;
}

// Compiles an ASL DefinitionBlock and returns the AML table bytes.
inline absl::StatusOr<std::vector<uint8_t>> IaslCompile(
    const TempDir& dir, const std::string& name, const std::string& asl) {
  const std::string src = dir.path() + "/" + name + ".asl";
  std::ofstream(src) << asl;
  std::string output;
  int rc = RunShell("cd '" + dir.path() + "' && iasl -on -p '" + name + "' '" +
                        name + ".asl'",
                    &output);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("iasl ", name, ".asl exited ", rc, ":\n", output));
  }
  absl::StatusOr<std::string> aml = ReadFile(dir.path() + "/" + name + ".aml");
  if (!aml.ok()) return aml.status();
  return std::vector<uint8_t>(aml->begin(), aml->end());
}

// Loads the tables (written to <dir>/<name>.dat for each entry) into
// ACPICA's acpiexec and runs `commands` in batch mode; returns its output.
inline absl::StatusOr<std::string> AcpiExec(
    const TempDir& dir,
    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& tables,
    const std::string& commands) {
  std::string files;
  for (const auto& [name, bytes] : tables) {
    absl::Status s = WriteFile(dir.path() + "/" + name + ".dat", bytes);
    if (!s.ok()) return s;
    absl::StrAppend(&files, " '", name, ".dat'");
  }
  std::string output;
  int rc = RunShell("cd '" + dir.path() + "' && acpiexec -b '" + commands +
                        "'" + files + " </dev/null",
                    &output);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("acpiexec exited ", rc, ":\n", output));
  }
  return output;
}

}  // namespace skiff::acpi::testing

#endif  // SKIFF_VMM_ACPI_IASL_TEST_UTIL_H_

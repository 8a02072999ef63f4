// A gtest fixture over FlatMachine for tests that assemble small programs:
// RunAsm() assembles, loads at kCodeAddr, runs to the first exit and
// returns it. Tests skip when nasm is missing.
//
//   TEST_F(AsmTest, Foo) { auto exit = RunAsm("mov eax, 1\nhlt"); ... }
#ifndef SKIFF_TCG_TESTING_ASM_FIXTURE_H_
#define SKIFF_TCG_TESTING_ASM_FIXTURE_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tcg/testing/tcg_test_util.h"

namespace skiff::tcg::testing {

class AsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
    auto m = FlatMachine::Create(options_);
    ASSERT_TRUE(m.ok()) << m.status();
    m_ = std::move(*m);
  }
  VcpuExit RunAsm(const std::string& source) {
    auto code = Assemble(source);
    EXPECT_TRUE(code.ok()) << code.status();
    if (!code.ok()) return VcpuExit{};
    EXPECT_TRUE(m_->LoadCode(*code).ok());
    auto exit = m_->Run();
    EXPECT_TRUE(exit.ok()) << exit.status();
    return exit.ok() ? *exit : VcpuExit{};
  }
  // Runs and expects HLT; returns the registers.
  Regs RunToHalt(const std::string& source) {
    VcpuExit exit = RunAsm(source);
    EXPECT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
    return m_->regs();
  }

  FlatMachine::Options options_;
  std::unique_ptr<FlatMachine> m_;
};

}  // namespace skiff::tcg::testing

#endif  // SKIFF_TCG_TESTING_ASM_FIXTURE_H_

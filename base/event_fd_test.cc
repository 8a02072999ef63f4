#include "base/event_fd.h"

#include <thread>

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(EventFd, SignalConsume) {
  auto ev = EventFd::Create();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->Consume(), 0u);
  ev->Signal();
  ev->Signal();
  EXPECT_EQ(ev->Consume(), 2u);
  EXPECT_EQ(ev->Consume(), 0u);
}

TEST(EventFd, WaitWakesOnSignalFromAnotherThread) {
  auto ev = EventFd::Create();
  ASSERT_TRUE(ev.ok());
  std::thread t([&] { ev->Signal(); });
  EXPECT_EQ(ev->Wait(), 1u);
  t.join();
}

}  // namespace
}  // namespace skiff

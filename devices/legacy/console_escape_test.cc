#include "devices/legacy/console_escape.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(ConsoleEscape, PlainBytesPassThrough) {
  ConsoleEscape escape;
  auto r = escape.Feed(Bytes("ls -l\r"));
  EXPECT_EQ(r.to_guest, Bytes("ls -l\r"));
  EXPECT_FALSE(r.quit);
}

TEST(ConsoleEscape, CtrlAXQuits) {
  ConsoleEscape escape;
  auto r = escape.Feed(Bytes("ab\x01xcd"));
  EXPECT_EQ(r.to_guest, Bytes("ab"));
  EXPECT_TRUE(r.quit);
}

TEST(ConsoleEscape, CtrlACtrlASendsOne) {
  ConsoleEscape escape;
  auto r = escape.Feed(Bytes("\x01\x01z"));
  EXPECT_EQ(r.to_guest, Bytes("\x01z"));
  EXPECT_FALSE(r.quit);
  EXPECT_FALSE(escape.escape_pending());
}

TEST(ConsoleEscape, CtrlAOtherPassesBoth) {
  ConsoleEscape escape;
  auto r =
      escape.Feed(Bytes("\x01"
                        "c\x01X"));
  EXPECT_EQ(r.to_guest, Bytes("\x01"
                              "c\x01X"));
  EXPECT_FALSE(r.quit);
}

TEST(ConsoleEscape, EscapeSplitAcrossFeeds) {
  ConsoleEscape escape;
  auto r1 = escape.Feed(Bytes("q\x01"));
  EXPECT_EQ(r1.to_guest, Bytes("q"));
  EXPECT_TRUE(escape.escape_pending());
  auto r2 = escape.Feed(Bytes("x"));
  EXPECT_TRUE(r2.quit);
  EXPECT_TRUE(r2.to_guest.empty());

  ConsoleEscape other;
  other.Feed(Bytes("\x01"));
  auto r3 = other.Feed(Bytes("\x01"));
  EXPECT_EQ(r3.to_guest, Bytes("\x01"));
  EXPECT_FALSE(r3.quit);
}

TEST(ConsoleEscape, EmptyFeed) {
  ConsoleEscape escape;
  auto r = escape.Feed({});
  EXPECT_TRUE(r.to_guest.empty());
  EXPECT_FALSE(r.quit);
}

}  // namespace
}  // namespace skiff::devices

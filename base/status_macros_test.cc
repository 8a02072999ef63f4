#include "base/status_macros.h"

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(ErrnoStatus, NamesOperationAndMapsCode) {
  absl::Status s = ErrnoStatus("open /x", ENOENT);
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_EQ(s.message(), "open /x: No such file or directory");
}

TEST(OneLine, EscapesControlCharacters) {
  EXPECT_EQ(OneLine("plain 'text'"), "plain 'text'");
  EXPECT_EQ(OneLine("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
  absl::Status s = OneLineStatus(absl::InvalidArgumentError("bad\nvalue"));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(), "bad\\x0avalue");
  EXPECT_TRUE(OneLineStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace skiff

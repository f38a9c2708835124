// UniqueFd closes exactly once and moves ownership.
#include "common/unique_fd.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "gtest/gtest.h"

namespace serpwow {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFdTest, ClosesOnDestruction) {
  int raw = -1;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    raw = fd.get();
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, DefaultAndNegativeAreEmpty) {
  UniqueFd none;
  EXPECT_FALSE(none.valid());
  EXPECT_FALSE(static_cast<bool>(none));
  EXPECT_EQ(none.get(), -1);
  UniqueFd failed(-5);  // e.g. what a failed socket() returned
  EXPECT_EQ(failed.get(), -1);
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
  c = UniqueFd();
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, ResetClosesTheOldAndReleaseKeepsItOpen) {
  UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int first = fd.get();
  fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(IsOpen(first) && first != fd.get());
  const int second = fd.release();
  EXPECT_FALSE(fd.valid());
  EXPECT_TRUE(IsOpen(second));
  ::close(second);
}

TEST(UniqueFdTest, MakePipeGivesTwoOwners) {
  UniqueFd r, w;
  ASSERT_TRUE(MakePipe(&r, &w, O_CLOEXEC));
  ASSERT_EQ(::write(w.get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  w.reset();
  EXPECT_EQ(::read(r.get(), &c, 1), 0);  // EOF: the write end is closed
}

}  // namespace
}  // namespace serpwow

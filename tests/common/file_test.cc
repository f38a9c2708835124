// ReadFile: whole content, precise errors that name the path but never the
// content.
#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace serpwow {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ReadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/serpwow-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::string dir_;
};

TEST_F(ReadFileTest, ReadsBytesExactly) {
  const std::string content("line 1\r\nbinary \0 byte\nno final newline", 37);
  absl::StatusOr<std::string> got = ReadFile(Write("a", content));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, content);
  absl::StatusOr<std::string> empty = ReadFile(Write("empty", ""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST_F(ReadFileTest, ReadsFilesLargerThanOneBuffer) {
  const std::string big(300 * 1024 + 7, 'z');
  absl::StatusOr<std::string> got = ReadFile(Write("big", big));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), big.size());
}

TEST_F(ReadFileTest, ReadsFilesWhoseSizeIsUnknown) {
  absl::StatusOr<std::string> got = ReadFile("/proc/self/status");  // st_size is 0
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, HasSubstr("Name:"));
}

TEST_F(ReadFileTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/missing.pem";
  absl::StatusOr<std::string> got = ReadFile(path);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "cannot read " + path + ": No such file or directory");
  EXPECT_EQ(ReadFile(path + "/below").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReadFileTest, DirectoryIsInvalidArgument) {
  absl::StatusOr<std::string> got = ReadFile(dir_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message(), "cannot read " + dir_ + ": is a directory");
}

TEST_F(ReadFileTest, EmptyPathIsInvalidArgument) {
  EXPECT_EQ(ReadFile("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReadFileTest, UnreadableFileIsPermissionDeniedWithoutTheContent) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  const std::string secret = "s3cr3t-key-material";
  const std::string path = Write("secret", secret);
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  absl::StatusOr<std::string> got = ReadFile(path);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(got.status().message()), Not(HasSubstr(secret)));
}

TEST_F(ReadFileTest, EndlessDeviceIsRefusedBeyondTheCap) {
  absl::StatusOr<std::string> got = ReadFile("/dev/zero");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("larger than"));
}

}  // namespace
}  // namespace serpwow

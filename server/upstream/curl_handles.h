// Move-only RAII owners for libcurl's C handles.
#pragma once

#include <curl/curl.h>

#include <utility>

namespace serpwow::upstream {

// Owns a CURL* easy handle; curl_easy_cleanup on destruction.
class CurlEasy {
 public:
  CurlEasy() : handle_(curl_easy_init()) {}
  explicit CurlEasy(CURL* handle) : handle_(handle) {}
  ~CurlEasy() { Reset(); }
  CurlEasy(CurlEasy&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CurlEasy& operator=(CurlEasy&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  CURL* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  void Reset() {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
    handle_ = nullptr;
  }
  CURL* handle_;
};

// Owns a CURLM* multi handle; curl_multi_cleanup on destruction. Every easy
// handle must have been removed from it before.
class CurlMulti {
 public:
  CurlMulti() : handle_(curl_multi_init()) {}
  explicit CurlMulti(CURLM* handle) : handle_(handle) {}
  ~CurlMulti() {
    if (handle_ != nullptr) curl_multi_cleanup(handle_);
  }
  CurlMulti(CurlMulti&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CurlMulti& operator=(CurlMulti&& other) noexcept {
    if (this != &other) {
      if (handle_ != nullptr) curl_multi_cleanup(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  CURLM* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  CURLM* handle_;
};

// Owns a curl_slist*; curl_slist_free_all on destruction.
class CurlSlist {
 public:
  CurlSlist() = default;
  ~CurlSlist() {
    if (list_ != nullptr) curl_slist_free_all(list_);
  }
  CurlSlist(CurlSlist&& other) noexcept : list_(std::exchange(other.list_, nullptr)) {}
  CurlSlist& operator=(CurlSlist&& other) noexcept {
    if (this != &other) {
      if (list_ != nullptr) curl_slist_free_all(list_);
      list_ = std::exchange(other.list_, nullptr);
    }
    return *this;
  }
  CurlSlist(const CurlSlist&) = delete;
  CurlSlist& operator=(const CurlSlist&) = delete;

  // Returns false if libcurl could not allocate the entry.
  bool Append(const char* entry) {
    curl_slist* next = curl_slist_append(list_, entry);
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace serpwow::upstream

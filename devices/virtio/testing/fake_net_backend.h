// An in-memory NetBackend for tests and fuzzers: frames injected by the test
// are handed to the device on Receive, frames the device sends are recorded,
// and the frames-waiting callback fires when the test says so (playing the
// event loop).
//
//   auto fake = std::make_unique<FakeNetBackend>();
//   FakeNetBackend* raw = fake.get();
//   VirtioNet net(std::move(fake), {});
//   raw->Inject(frame);       // header + Ethernet frame
//   raw->FireFramesWaiting(); // the device reads it
//   raw->sent();              // what the guest transmitted
//
// Not thread-safe (a NetBackend is driven from one thread).
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_FAKE_NET_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_FAKE_NET_BACKEND_H_

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "devices/virtio/net_backend.h"

namespace skiff::devices::testing {

class FakeNetBackend : public NetBackend {
 public:
  int64_t Send(absl::Span<const iovec> frame) override {
    if (send_result_ < 0) return send_result_;
    std::vector<uint8_t> bytes;
    for (const iovec& v : frame) {
      const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
      bytes.insert(bytes.end(), p, p + v.iov_len);
    }
    sent_.push_back(std::move(bytes));
    return static_cast<int64_t>(sent_.back().size());
  }

  int64_t Receive(absl::Span<const iovec> buffers) override {
    ++receive_calls_;
    if (receive_error_ < 0) return std::exchange(receive_error_, 0);
    if (frames_.empty()) return -EAGAIN;
    std::vector<uint8_t> frame = std::move(frames_.front());
    frames_.pop_front();
    // Like a TAP: a frame longer than the buffers is cut short.
    size_t done = 0;
    if (frame.empty()) return 0;
    for (const iovec& v : buffers) {
      const size_t n = std::min(v.iov_len, frame.size() - done);
      std::memcpy(v.iov_base, frame.data() + done, n);
      done += n;
      if (done == frame.size()) break;
    }
    return static_cast<int64_t>(done);
  }

  void SetFramesWaitingCallback(absl::AnyInvocable<void()> cb) override {
    on_frames_ = std::move(cb);
  }

  absl::Status SetOffload(const NetOffload& offload) override {
    offload_ = offload;
    ++offload_calls_;
    return absl::OkStatus();
  }

  // Queues a frame (header included) for Receive.
  void Inject(std::vector<uint8_t> frame) {
    frames_.push_back(std::move(frame));
  }
  // Calls the device's callback, as the event loop would.
  void FireFramesWaiting() {
    if (on_frames_) on_frames_();
  }
  // The next Receive fails with `err` (negative errno).
  void FailNextReceive(int64_t err) { receive_error_ = err; }
  // Send returns `result` (a negative errno) from now on; 0 restores.
  void SetSendResult(int64_t result) { send_result_ = result; }

  const std::vector<std::vector<uint8_t>>& sent() const { return sent_; }
  size_t frames_waiting() const { return frames_.size(); }
  int receive_calls() const { return receive_calls_; }
  const NetOffload& offload() const { return offload_; }
  int offload_calls() const { return offload_calls_; }

 private:
  std::deque<std::vector<uint8_t>> frames_;
  std::vector<std::vector<uint8_t>> sent_;
  absl::AnyInvocable<void()> on_frames_;
  NetOffload offload_;
  int offload_calls_ = 0;
  int receive_calls_ = 0;
  int64_t receive_error_ = 0;
  int64_t send_result_ = 0;
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_FAKE_NET_BACKEND_H_

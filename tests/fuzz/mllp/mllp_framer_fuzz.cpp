// libFuzzer target for the MLLP FrameDecoder. The first input byte picks the frame limit and
// the chunking; the rest is fed in chunks. Checks the decoder's promises: no crash, bounded
// buffering, frames within the limit and free of block characters, and that re-framing the
// decoded frames decodes to the same frames.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/mllp/framer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tb::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t max_frame = 1 + (data[0] & 0x3f) * 8;  // 1..505 bytes
  const std::size_t chunk = 1 + (data[0] >> 6) * 7;        // 1, 8, 15 or 22 bytes
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  tb::mllp::FrameDecoder decoder(max_frame);
  std::vector<std::string> frames;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    decoder.Feed(input.substr(at, chunk));
    while (auto event = decoder.Next()) {
      if (event->kind == tb::mllp::DecodeEventKind::kFrame) {
        Check(event->payload.size() <= max_frame);
        Check(event->payload.find('\x0b') == std::string::npos);
        Check(event->payload.find('\x1c') == std::string::npos);
        frames.push_back(std::move(event->payload));
      } else if (event->kind == tb::mllp::DecodeEventKind::kOversize) {
        Check(event->bytes > max_frame);
        Check(event->payload.size() <= tb::mllp::kOversizeHeadBytes);
      } else {
        Check(event->payload.empty());
      }
    }
    // Everything fed has been consumed; only a partial frame (within the limit) is held.
    Check(decoder.BufferedBytes() <= max_frame);
  }

  // Frames decoded once decode again, unchanged, from one buffer.
  std::string reframed;
  for (const std::string& frame : frames) {
    tb::mllp::AppendFrame(reframed, frame);
  }
  tb::mllp::FrameDecoder again(max_frame);
  again.Feed(reframed);
  std::size_t index = 0;
  while (auto event = again.Next()) {
    Check(event->kind == tb::mllp::DecodeEventKind::kFrame);
    Check(index < frames.size() && event->payload == frames[index]);
    ++index;
  }
  Check(index == frames.size());
  Check(!again.InFrame());
  return 0;
}

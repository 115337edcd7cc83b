// Throughput of the ER7 codec on a typical 1.1 KB ADT^A01. Target: parse + ACK of at least
// 300,000 messages per second on one core (Release build, taskset -c 1).
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"

namespace {

using tb::hl7v2::Message;

const std::string& AdtA01() {
  static const std::string bytes = [] {
    std::ifstream in(std::string(TB_HL7V2_BENCH_DATA) + "/adt_a01.hl7", std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }();
  return bytes;
}

tb::hl7v2::AckOptions Options() {
  tb::hl7v2::AckOptions options;
  options.control_id = "ACK000000001";
  options.time = std::chrono::system_clock::now();
  return options;
}

// The MLLP path: the frame's bytes are copied into a Message, which is parsed and answered.
void BM_ParseAndAck(benchmark::State& state) {
  const std::string& input = AdtA01();
  const tb::hl7v2::AckOptions options = Options();
  for (auto _ : state) {
    auto message = Message::Parse(input);
    if (!message) {
      state.SkipWithError("parse failed");
      break;
    }
    tb::hl7v2::Ack ack = tb::hl7v2::MakeAck(*message, options);
    benchmark::DoNotOptimize(ack.er7.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}
BENCHMARK(BM_ParseAndAck);

// As above with the edge checks in between (required MSH fields, type, NHS number).
void BM_ParseValidateAndAck(benchmark::State& state) {
  const std::string& input = AdtA01();
  const tb::hl7v2::AckOptions options = Options();
  tb::hl7v2::ValidationRules rules;
  rules.message_types = {"ADT^A01", "ADT^A04", "ADT^A08"};
  for (auto _ : state) {
    auto message = Message::Parse(input);
    if (!message) {
      state.SkipWithError("parse failed");
      break;
    }
    const std::vector<tb::core::Error> errors = tb::hl7v2::Validate(*message, rules);
    tb::hl7v2::Ack ack = tb::hl7v2::MakeAck(*message, errors, options);
    benchmark::DoNotOptimize(ack.er7.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseValidateAndAck);

void BM_ParseAndReadFields(benchmark::State& state) {
  const std::string& input = AdtA01();
  for (auto _ : state) {
    auto message = Message::Parse(input);
    if (!message) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(message->Get("PID-3.1").raw().data());
    benchmark::DoNotOptimize(message->Get("PID-5.1").raw().data());
    benchmark::DoNotOptimize(message->Get("PV1-3.1").raw().data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseAndReadFields);

void BM_ParseOnly(benchmark::State& state) {
  const std::string& input = AdtA01();
  for (auto _ : state) {
    auto message = Message::Parse(input);
    benchmark::DoNotOptimize(message.has_value());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseOnly);

// How parse cost grows with message size: an ORU^R01 with N OBX segments (about 110 bytes each)
// parsed and three fields read, as above. Bytes/s shows whether the cost per byte stays flat.
std::string OruWithObx(int count) {
  std::string message =
      "MSH|^~\\&|LIMS|RA1|TRUSTBRIDGE|X26|20240501101500+0100||ORU^R01^ORU_R01|LAB1|P|2.4\r"
      "PID|1||9000000009^^^NHS^NH~RA1234567^^^RA1^MR||SMITH^Jane^Alice^^Mrs^^L||19680229|F\r"
      "PV1|1|I|RA1WARD12^Bed 04^Bay 2^RA1\r"
      "OBR|1|ORD0001^RA1|FIL0001^RA1|26604007^Full blood count^SCT|||20240501093000+0100\r";
  for (int i = 1; i <= count; ++i) {
    message += "OBX|" + std::to_string(i) +
               "|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||135|g/L^g/L^UCUM|115-165|N|||F|||"
               "20240501100000+0100\r";
  }
  return message;
}

void BM_ParseAndReadFieldsOru(benchmark::State& state) {
  const std::string input = OruWithObx(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto message = Message::Parse(input);
    if (!message) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(message->Get("PID-3.1").raw().data());
    benchmark::DoNotOptimize(message->Get("PID-5.1").raw().data());
    benchmark::DoNotOptimize(message->Get("PV1-3.1").raw().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
  state.counters["bytes"] = static_cast<double>(input.size());
}
BENCHMARK(BM_ParseAndReadFieldsOru)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();

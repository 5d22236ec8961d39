/*
 * Offline inference of the exported LSTM MINDIR on Ascend (MindSpore Lite cloud-side C++ API):
 *   main --mindir_path lstm.mindir --input0_path 00_data --input1_path 01_length
 *        --result_path result_Files [--device_id 0]
 * For every batch file of 00_data (int32 ids [batch, max_len]) and the file of the same name in
 * 01_length (int32 [batch]), writes the logits to result_path/<name>_0.bin (float32).
 */
#include <sys/time.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/status.h"
#include "include/api/types.h"
#include "inc/utils.h"

namespace {

std::map<std::string, std::string> ParseFlags(int argc, char **argv) {
  std::map<std::string, std::string> flags = {{"device_id", "0"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) == 0) {
      flags[key.substr(2)] = argv[i + 1];
    }
  }
  return flags;
}

double NowMs() {
  timeval now{};
  gettimeofday(&now, nullptr);
  return now.tv_sec * 1000.0 + now.tv_usec / 1000.0;
}

// Copies the file's bytes into the model input; the sizes must match exactly.
bool FillInput(const std::string &path, mindspore::MSTensor *input) {
  std::vector<char> bytes;
  if (!ReadBytes(path, &bytes)) {
    std::cerr << "error: cannot read " << path << std::endl;
    return false;
  }
  if (bytes.size() != input->DataSize()) {
    std::cerr << "error: " << path << " holds " << bytes.size() << " bytes but input "
              << input->Name() << " takes " << input->DataSize()
              << "; run preprocess.py with the batch_size and max_len of the export" << std::endl;
    return false;
  }
  std::memcpy(input->MutableData(), bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  std::map<std::string, std::string> flags = ParseFlags(argc, argv);
  for (const char *needed : {"mindir_path", "input0_path", "input1_path", "result_path"}) {
    if (flags.count(needed) == 0) {
      std::cerr << "error: --" << needed << " is missing" << std::endl;
      return 2;
    }
  }
  auto context = std::make_shared<mindspore::Context>();
  auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
  ascend->SetDeviceID(static_cast<uint32_t>(std::stoul(flags["device_id"])));
  context->MutableDeviceInfo().push_back(ascend);

  mindspore::Model model;
  if (model.Build(flags["mindir_path"], mindspore::ModelType::kMindIR, context) !=
      mindspore::kSuccess) {
    std::cerr << "error: cannot build " << flags["mindir_path"] << " for Ascend" << std::endl;
    return 1;
  }
  std::vector<mindspore::MSTensor> inputs = model.GetInputs();
  if (inputs.size() != 2) {
    std::cerr << "error: the model takes " << inputs.size() << " inputs, expected ids and length"
              << std::endl;
    return 1;
  }
  std::vector<std::string> batches = ListBinFiles(flags["input0_path"]);
  if (batches.empty()) {
    std::cerr << "error: no .bin files in " << flags["input0_path"] << std::endl;
    return 1;
  }
  double total_ms = 0;
  for (const std::string &ids_path : batches) {
    std::string length_path = flags["input1_path"] + "/" + Stem(ids_path) + ".bin";
    if (!FillInput(ids_path, &inputs[0]) || !FillInput(length_path, &inputs[1])) {
      return 1;
    }
    std::vector<mindspore::MSTensor> outputs;
    double start = NowMs();
    if (model.Predict(inputs, &outputs) != mindspore::kSuccess) {
      std::cerr << "error: inference failed on " << ids_path << std::endl;
      return 1;
    }
    total_ms += NowMs() - start;
    if (!WriteOutputs(ids_path, flags["result_path"], outputs)) {
      std::cerr << "error: cannot write results into " << flags["result_path"] << std::endl;
      return 1;
    }
  }
  std::cout << "inference of " << batches.size() << " batches: " << total_ms / batches.size()
            << " ms per batch on average" << std::endl;
  return 0;
}

/* File helpers of the offline inference app: list .bin inputs, read them, write results. */
#ifndef LSTM_ASCEND310_INFER_UTILS_H_
#define LSTM_ASCEND310_INFER_UTILS_H_

#include <string>
#include <vector>

#include "include/api/types.h"

// Sorted paths of the *.bin files in folder (empty if the folder cannot be read).
std::vector<std::string> ListBinFiles(const std::string &folder);

// Whole file as bytes; false if it cannot be read.
bool ReadBytes(const std::string &path, std::vector<char> *bytes);

// Writes every output tensor to result_dir/<input stem>_<i>.bin; false on any failure.
bool WriteOutputs(const std::string &input_path, const std::string &result_dir,
                  const std::vector<mindspore::MSTensor> &outputs);

// The file name of path without folder and extension.
std::string Stem(const std::string &path);

#endif  // LSTM_ASCEND310_INFER_UTILS_H_

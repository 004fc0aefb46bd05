// bench/benches.h — every benchmark, run by name from bench/main.cpp. Each prints JSON lines
// with a ratio against a baseline measured in the same process.
#pragma once
#include <string>
#include <vector>

int bench_train_step(const std::vector<std::string>& args);  // [rounds] [steps]
int bench_attack(const std::vector<std::string>& args);      // [rounds] [batch] [device] [variant]
int bench_gan(const std::vector<std::string>& args);         // [rounds] [batch] [device] [width] [steps] [threads]

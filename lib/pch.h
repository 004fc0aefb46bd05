// lib/pch.h — the heavy headers every mirage translation unit uses, compiled once per target.
#pragma once
#include <torch/torch.h>
#include <torch/script.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

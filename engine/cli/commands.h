// Subcommands of `latent`. Each takes the arguments after its name and returns the exit code;
// errors are thrown as latent::Error and printed by main.
#pragma once

#include <string>
#include <vector>

namespace latent::cli {

int run_info(const std::vector<std::string>& argv);
int run_tokenize(const std::vector<std::string>& argv);
int run_dump(const std::vector<std::string>& argv);
int run_eval(const std::vector<std::string>& argv);
int run_make_model(const std::vector<std::string>& argv);
int run_bench(const std::vector<std::string>& argv);
int run_run(const std::vector<std::string>& argv);
int run_chat(const std::vector<std::string>& argv);
int run_devices(const std::vector<std::string>& argv);

} // namespace latent::cli

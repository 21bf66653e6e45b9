// Subcommands of `latent`. Each takes the arguments after its name and returns the exit code;
// errors are thrown as latent::Error and printed by main.
#pragma once

#include <string>
#include <vector>

namespace latent::cli {

// Exit statuses, the same for every command (README lists them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;      // the work failed: a file, the model, an error while generating
inline constexpr int kExitUsage = 2;       // the command line is wrong: unknown option, value out of range
inline constexpr int kExitInternal = 3;    // an unexpected internal error (a bug)
inline constexpr int kExitContextFull = 4; // run: the prompt does not fit the context, or it filled before the end
inline constexpr int kExitCancelled = 130; // run: stopped with Ctrl+C

int run_info(const std::vector<std::string>& argv);
int run_tokenize(const std::vector<std::string>& argv);
int run_dump(const std::vector<std::string>& argv);
int run_eval(const std::vector<std::string>& argv);
int run_make_model(const std::vector<std::string>& argv);
int run_bench(const std::vector<std::string>& argv);
int run_run(const std::vector<std::string>& argv);
int run_chat(const std::vector<std::string>& argv);
int run_devices(const std::vector<std::string>& argv);
int run_serve(const std::vector<std::string>& argv);
int run_bench_parallel(const std::vector<std::string>& argv);
int run_docs(const std::vector<std::string>& argv); // through the document library plugin (docs_support.h)

} // namespace latent::cli

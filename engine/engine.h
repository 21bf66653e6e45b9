// The engine's public API: the one include for the desktop app and the `latent` CLI. Plain
// C++20 — no Qt and no CUDA types, here or in anything it includes.
//
// A chat turn, in full:
//
//   latent::ModelLoadOptions load;
//   load.progress = [&](float p) { report(p); return !cancel_load; };  // false → throws latent::Cancelled
//   auto model = latent::Model::load(path, load);                        // file, config, tokenizer, chat format
//
//   std::string note;
//   auto backend = latent::create_backend(*model, latent::BackendKind::Auto, latent::BackendOptions{}, &note);
//   latent::Session session(*backend);                                   // one conversation
//
//   latent::GenerationParams params;                                     // sampling, max tokens, stop strings
//   std::atomic<bool> stop{false};                                       // set from any thread to cancel
//   latent::GenerationResult r = session.generate(messages, params,
//       [&](std::string_view piece) { append(piece); }, &stop);         // UTF-8-complete pieces
//   // r.reason / r.message say why it ended; r.stats has time to first token and tokens/s.
//
// The next turn passes the whole conversation again (with the reply appended); the session
// evaluates only what is new. Errors: Model::load and create_backend throw latent::Error (or
// latent::Cancelled); Session::generate never throws and reports failures in the result.
// A model file that changes on disk while loaded (truncated, rewritten, replaced) never crashes
// the process: the request fails with r.model_file_changed and "the model file changed on disk;
// reload it: PATH"; drop the Model (and its backend and session) and load the file again.
#pragma once

#include "backend/backend.h"          // Backend, BackendOptions, KvCacheType, AttentionForm
#include "chat/chat_format.h"         // chat::ChatMessage, chat::split_reasoning, chat formats
#include "core/error.h"               // latent::Error, latent::Cancelled
#include "core/mapped_file.h"         // latent::ModelFileChanged (a loaded model's file changed on disk)
#include "model/model.h"              // Model, ModelLoadOptions
#include "sampling/sampler.h"         // sampling::SamplerParams, sampling::Sampler
#include "session/backend_factory.h"  // BackendKind, create_backend
#include "session/session.h"          // Session, GenerationParams, GenerationResult, StopReason
#include "tokenizer/tokenizer.h"      // tokenizer::Tokenizer, tokenizer::StreamingDecoder

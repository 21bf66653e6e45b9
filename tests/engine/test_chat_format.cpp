// Chat formats: detection from template snippets (each rule of deepseek2-gguf.md §6.1, in order,
// and the fallbacks), forcing by name, byte-exact prompts for every format, the reasoning drop
// of past R1 turns and the split of a reply into thinking and answer. Every expected string
// here is written out by hand from the spec, not captured from the code.
#include "chat/chat_format.h"

#include <QtTest>

#include <vector>

using namespace latent::chat;

using Conversation = std::vector<ChatMessage>;
Q_DECLARE_METATYPE(Conversation)
Q_DECLARE_METATYPE(latent::chat::ChatFormat)
Q_DECLARE_METATYPE(latent::chat::ChatFormatSource)

namespace {

ChatMessage system_message(std::string text) { return {ChatMessage::System, std::move(text)}; }
ChatMessage user_message(std::string text) { return {ChatMessage::User, std::move(text)}; }
ChatMessage assistant_message(std::string text) { return {ChatMessage::Assistant, std::move(text)}; }

QByteArray bytes(std::string_view text) { return QByteArray(text.data(), static_cast<qsizetype>(text.size())); }

// Template snippets shaped like the real tokenizer_config templates. Inside Jinja string
// literals "\n" is a backslash and an n, hence the "\\n" in C++.
const char* const kV2LiteTemplate =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}"
    "{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

const char* const kV3Template =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}";

const char* const kR1Template =
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";

const char* const kChatMLTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const char* const kKimiTemplate =
    "{%- for message in messages -%}{%- if message['role'] == 'system' -%}<|im_system|>system<|im_middle|>"
    "{%- elif message['role'] == 'user' -%}<|im_user|>user<|im_middle|>"
    "{%- else -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}{{ message['content'] }}<|im_end|>"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}";

const char* const kCoderTemplate =
    "{{ bos_token }}{%- for message in messages %}{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- else %}{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + '\\n'}}"
    "{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}{%- endif %}{%- endif %}"
    "{%- endfor %}{% if add_generation_prompt %}{{'### Response:'}}{% endif %}";

const char* const kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

} // namespace

class TestChatFormat : public QObject {
    Q_OBJECT

private slots:
    void specialTokenBytes();
    void detect_data();
    void detect();
    void describeChoice();
    void names_data();
    void names();
    void canonicalNamesRoundTrip();
    void format_data();
    void format();
    void bosTextFromVocabulary();
    void stripReasoning_data();
    void stripReasoning();
    void splitReasoning_data();
    void splitReasoning();
    void endOfTurn();
};

void TestChatFormat::specialTokenBytes() {
    // UTF-8 of the DeepSeek special tokens: "｜" = EF BD 9C, "▁" = E2 96 81 (spec §6).
    QCOMPARE(bytes(kEosText), QByteArray::fromHex("3CEFBD9C656E64E296816F66E2968173656E74656E6365EFBD9C3E"));
    QCOMPARE(bytes(kBosText), QByteArray::fromHex("3CEFBD9C626567696EE296816F66E2968173656E74656E6365EFBD9C3E"));
    QCOMPARE(bytes(kUserText), QByteArray::fromHex("3CEFBD9C55736572EFBD9C3E"));
    QCOMPARE(bytes(kAssistantText), QByteArray::fromHex("3CEFBD9C417373697374616E74EFBD9C3E"));
}

void TestChatFormat::detect_data() {
    QTest::addColumn<bool>("has_template");
    QTest::addColumn<QByteArray>("template_text");
    QTest::addColumn<bool>("v3_tokens");
    QTest::addColumn<ChatFormat>("format");
    QTest::addColumn<bool>("think_prefix");
    QTest::addColumn<ChatFormatSource>("source");

    // Rule 3: V2-Lite-Chat's template.
    QTest::newRow("v2-lite") << true << QByteArray(kV2LiteTemplate) << false << ChatFormat::DeepSeekV2 << false
                             << ChatFormatSource::TemplateMarkers;
    // The markers win over the vocabulary.
    QTest::newRow("v2-lite, v3 vocab") << true << QByteArray(kV2LiteTemplate) << true << ChatFormat::DeepSeekV2
                                       << false << ChatFormatSource::TemplateMarkers;
    // Rule 4: V3 and R1.
    QTest::newRow("v3") << true << QByteArray(kV3Template) << true << ChatFormat::DeepSeekV3 << false
                        << ChatFormatSource::TemplateMarkers;
    QTest::newRow("r1") << true << QByteArray(kR1Template) << true << ChatFormat::DeepSeekV3 << true
                        << ChatFormatSource::TemplateMarkers;
    // Rule 4 needs all three markers: no EOS marker, so this is unrecognised.
    QTest::newRow("v3 without eos marker")
        << true << QByteArray("{{'<｜User｜>' + m}}{{'<｜Assistant｜>'}}") << false << ChatFormat::DeepSeekV2 << false
        << ChatFormatSource::DefaultFallback;
    // Rule 1: ChatML, checked first of all, even when DeepSeek markers are present too.
    QTest::newRow("chatml") << true << QByteArray(kChatMLTemplate) << false << ChatFormat::ChatML << false
                            << ChatFormatSource::TemplateMarkers;
    QTest::newRow("chatml before v3")
        << true << QByteArray("<|im_start|><｜User｜><｜Assistant｜><｜end▁of▁sentence｜>") << true
        << ChatFormat::ChatML << false << ChatFormatSource::TemplateMarkers;
    // Rule 2: DeepSeek-Coder instruct.
    QTest::newRow("coder") << true << QByteArray(kCoderTemplate) << false << ChatFormat::DeepSeekCoder << false
                           << ChatFormatSource::TemplateMarkers;
    // Rule 3 comes before rule 4.
    QTest::newRow("v2 before v3")
        << true
        << QByteArray("{{ 'Assistant: ' + message['content'] + eos_token }}<｜User｜><｜Assistant｜><｜end▁of▁sentence｜>")
        << true << ChatFormat::DeepSeekV2 << false << ChatFormatSource::TemplateMarkers;
    // Rule 5: Kimi / Moonlight.
    QTest::newRow("kimi") << true << QByteArray(kKimiTemplate) << false << ChatFormat::Kimi << false
                          << ChatFormatSource::TemplateMarkers;
    // Rule 0: the template text is a format name.
    QTest::newRow("named deepseek3") << true << QByteArray("deepseek3") << false << ChatFormat::DeepSeekV3 << false
                                     << ChatFormatSource::TemplateName;
    QTest::newRow("named r1") << true << QByteArray(" r1\n") << false << ChatFormat::DeepSeekV3 << true
                              << ChatFormatSource::TemplateName;
    // Fallbacks.
    QTest::newRow("absent, v3 vocab") << false << QByteArray() << true << ChatFormat::DeepSeekV3 << false
                                      << ChatFormatSource::VocabularyFallback;
    QTest::newRow("absent, v2 vocab") << false << QByteArray() << false << ChatFormat::DeepSeekV2 << false
                                      << ChatFormatSource::DefaultFallback;
    QTest::newRow("empty, v3 vocab") << true << QByteArray("") << true << ChatFormat::DeepSeekV3 << false
                                     << ChatFormatSource::VocabularyFallback;
    QTest::newRow("empty, v2 vocab") << true << QByteArray("") << false << ChatFormat::DeepSeekV2 << false
                                     << ChatFormatSource::DefaultFallback;
    QTest::newRow("llama3, v3 vocab") << true << QByteArray(kLlama3Template) << true << ChatFormat::DeepSeekV3
                                      << false << ChatFormatSource::VocabularyFallback;
    QTest::newRow("llama3, v2 vocab") << true << QByteArray(kLlama3Template) << false << ChatFormat::DeepSeekV2
                                      << false << ChatFormatSource::DefaultFallback;
}

void TestChatFormat::detect() {
    QFETCH(bool, has_template);
    QFETCH(QByteArray, template_text);
    QFETCH(bool, v3_tokens);
    QFETCH(ChatFormat, format);
    QFETCH(bool, think_prefix);
    QFETCH(ChatFormatSource, source);

    std::optional<std::string_view> text;
    if (has_template) text = std::string_view(template_text.constData(), static_cast<size_t>(template_text.size()));
    const ChatFormatChoice choice = detect_chat_format(text, v3_tokens);
    QCOMPARE(choice.format, format);
    QCOMPARE(choice.think_prefix, think_prefix);
    QCOMPARE(choice.source, source);
    QVERIFY(!choice.reason.empty());
}

void TestChatFormat::describeChoice() {
    // The lines the CLI prints.
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(detect_chat_format(kV3Template, true))),
             QString::fromUtf8("deepseek3 (from template markers)"));
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(detect_chat_format(kR1Template, true))),
             QString::fromUtf8("deepseek3 + <think> (from template markers)"));
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(detect_chat_format(kV2LiteTemplate, false))),
             QString::fromUtf8("deepseek2 (from template markers)"));
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(detect_chat_format(std::nullopt, false))),
             QString::fromUtf8("deepseek2 (no chat template; default)"));
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(detect_chat_format(kLlama3Template, true))),
             QString::fromUtf8("deepseek3 (unrecognised chat template; vocabulary has <｜User｜> and <｜Assistant｜>)"));
    QCOMPARE(QString::fromStdString(describe_chat_format_choice(*force_chat_format("R1"))),
             QString::fromUtf8("deepseek3 + <think> (forced by name 'R1')"));
}

void TestChatFormat::names_data() {
    QTest::addColumn<QByteArray>("name");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<ChatFormat>("format");
    QTest::addColumn<bool>("think_prefix");

    QTest::newRow("deepseek2") << QByteArray("deepseek2") << true << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("deepseek-v2") << QByteArray("deepseek-v2") << true << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("v2") << QByteArray("v2") << true << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("V2 upper case") << QByteArray("V2") << true << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("deepseek3") << QByteArray("deepseek3") << true << ChatFormat::DeepSeekV3 << false;
    QTest::newRow("DeepSeek-V3") << QByteArray("DeepSeek-V3") << true << ChatFormat::DeepSeekV3 << false;
    QTest::newRow("v3") << QByteArray("v3") << true << ChatFormat::DeepSeekV3 << false;
    QTest::newRow("r1") << QByteArray("r1") << true << ChatFormat::DeepSeekV3 << true;
    QTest::newRow("deepseek-r1") << QByteArray("deepseek-r1") << true << ChatFormat::DeepSeekV3 << true;
    QTest::newRow("kimi-k2") << QByteArray("kimi-k2") << true << ChatFormat::Kimi << false;
    QTest::newRow("moonlight") << QByteArray("moonlight") << true << ChatFormat::Kimi << false;
    QTest::newRow("chatml") << QByteArray("chatml") << true << ChatFormat::ChatML << false;
    QTest::newRow("deepseek (llama.cpp: coder)") << QByteArray("deepseek") << true << ChatFormat::DeepSeekCoder
                                                 << false;
    QTest::newRow("deepseek-coder") << QByteArray("deepseek-coder") << true << ChatFormat::DeepSeekCoder << false;
    QTest::newRow("unknown") << QByteArray("llama3") << false << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("empty") << QByteArray("") << false << ChatFormat::DeepSeekV2 << false;
    QTest::newRow("trailing space") << QByteArray("deepseek3 ") << false << ChatFormat::DeepSeekV2 << false;
}

void TestChatFormat::names() {
    QFETCH(QByteArray, name);
    QFETCH(bool, valid);
    QFETCH(ChatFormat, format);
    QFETCH(bool, think_prefix);

    const std::string_view view(name.constData(), static_cast<size_t>(name.size()));
    const std::optional<ChatFormat> parsed = chat_format_from_name(view);
    const std::optional<ChatFormatChoice> forced = force_chat_format(view);
    QCOMPARE(parsed.has_value(), valid);
    QCOMPARE(forced.has_value(), valid);
    if (!valid) return;
    QCOMPARE(*parsed, format);
    QCOMPARE(forced->format, format);
    QCOMPARE(forced->think_prefix, think_prefix);
    QCOMPARE(forced->source, ChatFormatSource::Forced);
}

void TestChatFormat::canonicalNamesRoundTrip() {
    QCOMPARE(QByteArray(chat_format_name(ChatFormat::DeepSeekV2).data()), QByteArray("deepseek2"));
    QCOMPARE(QByteArray(chat_format_name(ChatFormat::DeepSeekV3).data()), QByteArray("deepseek3"));
    QCOMPARE(QByteArray(chat_format_name(ChatFormat::Kimi).data()), QByteArray("kimi-k2"));
    QCOMPARE(QByteArray(chat_format_name(ChatFormat::ChatML).data()), QByteArray("chatml"));
    QCOMPARE(QByteArray(chat_format_name(ChatFormat::DeepSeekCoder).data()), QByteArray("deepseek-coder"));
    for (ChatFormat format : {ChatFormat::DeepSeekV2, ChatFormat::DeepSeekV3, ChatFormat::Kimi, ChatFormat::ChatML,
                              ChatFormat::DeepSeekCoder}) {
        QCOMPARE(chat_format_from_name(chat_format_name(format)), std::optional<ChatFormat>(format));
    }
}

void TestChatFormat::format_data() {
    QTest::addColumn<ChatFormat>("format");
    QTest::addColumn<Conversation>("messages");
    QTest::addColumn<bool>("add_bos_text");
    QTest::addColumn<bool>("add_generation_prompt");
    QTest::addColumn<bool>("think_prefix");
    QTest::addColumn<bool>("drop_past_reasoning");
    QTest::addColumn<QByteArray>("expected");

    const Conversation hi{user_message("Hi")};
    const Conversation multi_turn{system_message("You are helpful."), user_message("Hi"),
                                  assistant_message("Hello! How can I help?"), user_message("What is 2+2?")};
    const Conversation r1_history{user_message("What is 2+2?"),
                                  assistant_message("<think>\nSimple sum.\n</think>\n\nIt is 4."),
                                  user_message("And 3+3?")};

    // ---- deepseek2
    QTest::newRow("v2 single user") << ChatFormat::DeepSeekV2 << hi << true << true << false << true
                                    << QByteArray("<｜begin▁of▁sentence｜>User: Hi\n\nAssistant:");
    QTest::newRow("v2 multi-turn")
        << ChatFormat::DeepSeekV2 << multi_turn << true << true << false << true
        << QByteArray("<｜begin▁of▁sentence｜>You are helpful.\n\nUser: Hi\n\nAssistant: Hello! How can I "
                      "help?<｜end▁of▁sentence｜>User: What is 2+2?\n\nAssistant:");
    QTest::newRow("v2 no bos, no generation prompt")
        << ChatFormat::DeepSeekV2 << Conversation{user_message("Hi"), assistant_message("Hello.")} << false << false
        << false << true << QByteArray("User: Hi\n\nAssistant: Hello.<｜end▁of▁sentence｜>");
    QTest::newRow("v2 system stays in place")
        << ChatFormat::DeepSeekV2
        << Conversation{user_message("Hi"), system_message("Be brief."), user_message("Why?")} << true << true << false
        << true << QByteArray("<｜begin▁of▁sentence｜>User: Hi\n\nBe brief.\n\nUser: Why?\n\nAssistant:");
    QTest::newRow("v2 drops past reasoning")
        << ChatFormat::DeepSeekV2 << r1_history << true << true << false << true
        << QByteArray("<｜begin▁of▁sentence｜>User: What is 2+2?\n\nAssistant: It is 4.<｜end▁of▁sentence｜>"
                      "User: And 3+3?\n\nAssistant:");
    QTest::newRow("v2 empty conversation") << ChatFormat::DeepSeekV2 << Conversation{} << true << true << false
                                           << true << QByteArray("<｜begin▁of▁sentence｜>Assistant:");

    // ---- deepseek3 / R1
    QTest::newRow("v3 single user") << ChatFormat::DeepSeekV3 << hi << true << true << false << true
                                    << QByteArray("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>");
    QTest::newRow("v3 system, user")
        << ChatFormat::DeepSeekV3 << Conversation{system_message("You are helpful."), user_message("Hi")} << true
        << true << false << true << QByteArray("<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>");
    QTest::newRow("v3 multi-turn")
        << ChatFormat::DeepSeekV3 << multi_turn << true << true << false << true
        << QByteArray("<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello! How can I "
                      "help?<｜end▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>");
    QTest::newRow("v3 system messages hoisted and joined")
        << ChatFormat::DeepSeekV3
        << Conversation{system_message("You are helpful."), user_message("Hi"), assistant_message("Hello."),
                        system_message("Answer in French."), user_message("Bye")}
        << true << true << false << true
        << QByteArray("<｜begin▁of▁sentence｜>You are helpful.\n\nAnswer in French.<｜User｜>Hi<｜Assistant｜>"
                      "Hello.<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>");
    QTest::newRow("v3 no generation prompt")
        << ChatFormat::DeepSeekV3 << Conversation{user_message("Hi"), assistant_message("Hello.")} << true << false
        << false << true
        << QByteArray("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello.<｜end▁of▁sentence｜>");
    QTest::newRow("v3 no bos") << ChatFormat::DeepSeekV3 << hi << false << true << false << true
                               << QByteArray("<｜User｜>Hi<｜Assistant｜>");
    QTest::newRow("r1 think prefix, past reasoning dropped")
        << ChatFormat::DeepSeekV3 << r1_history << true << true << true << true
        << QByteArray("<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>It is 4.<｜end▁of▁sentence｜>"
                      "<｜User｜>And 3+3?<｜Assistant｜><think>\n");
    QTest::newRow("r1 past reasoning kept when asked")
        << ChatFormat::DeepSeekV3 << r1_history << true << true << true << false
        << QByteArray("<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\nSimple sum.\n</think>"
                      "\n\nIt is 4.<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜><think>\n");
    QTest::newRow("r1 reply stopped while thinking")
        << ChatFormat::DeepSeekV3
        << Conversation{user_message("Q"), assistant_message("<think>\nHmm, let me"), user_message("Go on")} << true
        << true << true << true
        << QByteArray("<｜begin▁of▁sentence｜><｜User｜>Q<｜Assistant｜><｜end▁of▁sentence｜><｜User｜>Go "
                      "on<｜Assistant｜><think>\n");
    QTest::newRow("r1 think prefix needs generation prompt")
        << ChatFormat::DeepSeekV3 << hi << true << false << true << true
        << QByteArray("<｜begin▁of▁sentence｜><｜User｜>Hi");

    // ---- kimi-k2 (no BOS text: Kimi vocabularies have their own BOS, set by the caller)
    QTest::newRow("kimi multi-turn")
        << ChatFormat::Kimi
        << Conversation{system_message("Be brief."), user_message("Hi"), assistant_message("Hello."),
                        user_message("Bye")}
        << false << true << false << true
        << QByteArray("<|im_system|>system<|im_middle|>Be brief.<|im_end|><|im_user|>user<|im_middle|>Hi<|im_end|>"
                      "<|im_assistant|>assistant<|im_middle|>Hello.<|im_end|><|im_user|>user<|im_middle|>Bye<|im_end|>"
                      "<|im_assistant|>assistant<|im_middle|>");

    // ---- chatml
    QTest::newRow("chatml multi-turn")
        << ChatFormat::ChatML << multi_turn << false << true << false << true
        << QByteArray("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                      "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is "
                      "2+2?<|im_end|>\n<|im_start|>assistant\n");

    // ---- deepseek-coder (llama.cpp's built-in "deepseek")
    QTest::newRow("coder multi-turn")
        << ChatFormat::DeepSeekCoder
        << Conversation{system_message("You are a coder.\n"), user_message("Sort a list"),
                        assistant_message("sorted(xs)"), user_message("In place?")}
        << true << true << false << true
        << QByteArray("<｜begin▁of▁sentence｜>You are a coder.\n### Instruction:\nSort a list\n### Response:\n"
                      "sorted(xs)\n<|EOT|>\n### Instruction:\nIn place?\n### Response:\n");
}

void TestChatFormat::format() {
    QFETCH(ChatFormat, format);
    QFETCH(Conversation, messages);
    QFETCH(bool, add_bos_text);
    QFETCH(bool, add_generation_prompt);
    QFETCH(bool, think_prefix);
    QFETCH(bool, drop_past_reasoning);
    QFETCH(QByteArray, expected);

    ChatOptions options;
    options.add_bos_text = add_bos_text;
    options.add_generation_prompt = add_generation_prompt;
    options.think_prefix = think_prefix;
    options.drop_past_reasoning = drop_past_reasoning;
    QCOMPARE(bytes(format_chat(format, messages, options)), expected);
}

void TestChatFormat::bosTextFromVocabulary() {
    ChatOptions options;
    options.bos_text = "[BOS]";
    QCOMPARE(bytes(format_chat(ChatFormat::Kimi, {user_message("Hi")}, options)),
             QByteArray("[BOS]<|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>"));
    // Defaults: DeepSeek BOS text, generation prompt on, no think prefix.
    QCOMPARE(bytes(format_chat(ChatFormat::DeepSeekV3, {user_message("Hi")})),
             QByteArray("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>"));
}

void TestChatFormat::stripReasoning_data() {
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("complete block") << QByteArray("<think>\nLet me add.\n</think>\n\nIt is 4.") << QByteArray("It is 4.");
    QTest::newRow("opened by the prompt") << QByteArray("Let me add.\n</think>\n\nIt is 4.") << QByteArray("It is 4.");
    QTest::newRow("no think block") << QByteArray("It is 4.") << QByteArray("It is 4.");
    QTest::newRow("no think block keeps whitespace") << QByteArray(" It is 4.\n") << QByteArray(" It is 4.\n");
    QTest::newRow("last close wins") << QByteArray("<think>a</think>b</think>\n c ") << QByteArray("c");
    QTest::newRow("stopped while thinking") << QByteArray("\n<think>\nHmm, let") << QByteArray("");
    QTest::newRow("empty block") << QByteArray("<think>\n\n</think>\n\nHi") << QByteArray("Hi");
    QTest::newRow("only the block") << QByteArray("<think>x</think>") << QByteArray("");
    QTest::newRow("empty") << QByteArray("") << QByteArray("");
    QTest::newRow("think tag later in the text") << QByteArray("Use a <think> tag.") << QByteArray("Use a <think> tag.");
}

void TestChatFormat::stripReasoning() {
    QFETCH(QByteArray, content);
    QFETCH(QByteArray, expected);
    QCOMPARE(bytes(strip_reasoning(std::string_view(content.constData(), static_cast<size_t>(content.size())))),
             expected);
}

void TestChatFormat::splitReasoning_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("started_in_reasoning");
    QTest::addColumn<QByteArray>("reasoning");
    QTest::addColumn<QByteArray>("answer");
    QTest::addColumn<bool>("has_reasoning");
    QTest::addColumn<bool>("complete");

    QTest::newRow("complete") << QByteArray("<think>\nLet me add.\n</think>\n\nIt is 4.") << false
                              << QByteArray("Let me add.") << QByteArray("It is 4.") << true << true;
    QTest::newRow("complete, leading newline") << QByteArray("\n<think>x</think>y") << false << QByteArray("x")
                                               << QByteArray("y") << true << true;
    QTest::newRow("missing opening tag") << QByteArray("Let me add.\n</think>\n\nIt is 4.") << false
                                         << QByteArray("Let me add.") << QByteArray("It is 4.") << true << true;
    QTest::newRow("missing opening tag, flagged") << QByteArray("Let me add.\n</think>\n\nIt is 4.") << true
                                                  << QByteArray("Let me add.") << QByteArray("It is 4.") << true
                                                  << true;
    QTest::newRow("unfinished") << QByteArray("<think>\nLet me") << false << QByteArray("Let me") << QByteArray("")
                                << true << false;
    QTest::newRow("unfinished, close tag arriving") << QByteArray("<think>\nLet me add.\n</thi") << false
                                                    << QByteArray("Let me add.") << QByteArray("") << true << false;
    QTest::newRow("unfinished, lone <") << QByteArray("<think>\nIs 3 <") << false << QByteArray("Is 3")
                                        << QByteArray("") << true << false;
    QTest::newRow("unfinished, opened by the prompt") << QByteArray("Let me") << true << QByteArray("Let me")
                                                      << QByteArray("") << true << false;
    QTest::newRow("open tag arriving") << QByteArray("<thi") << false << QByteArray("") << QByteArray("") << false
                                       << false;
    QTest::newRow("just opened") << QByteArray("<think>") << false << QByteArray("") << QByteArray("") << true
                                 << false;
    QTest::newRow("closed, answer not yet") << QByteArray("<think>r</think>") << false << QByteArray("r")
                                            << QByteArray("") << true << true;
    QTest::newRow("empty block") << QByteArray("<think>\n\n</think>\n\nHi") << false << QByteArray("")
                                 << QByteArray("Hi") << true << true;
    QTest::newRow("no think") << QByteArray("It is 4.") << false << QByteArray("") << QByteArray("It is 4.") << false
                              << false;
    QTest::newRow("no think, v2 leading space") << QByteArray(" Hello!\n") << false << QByteArray("")
                                                << QByteArray("Hello!") << false << false;
    QTest::newRow("think tag later in the text") << QByteArray("Use a <think> tag.") << false << QByteArray("")
                                                 << QByteArray("Use a <think> tag.") << false << false;
    QTest::newRow("first close wins") << QByteArray("<think>a</think>b</think>c") << false << QByteArray("a")
                                      << QByteArray("b</think>c") << true << true;
    QTest::newRow("empty") << QByteArray("") << false << QByteArray("") << QByteArray("") << false << false;
    QTest::newRow("empty, opened by the prompt") << QByteArray("") << true << QByteArray("") << QByteArray("") << true
                                                 << false;
}

void TestChatFormat::splitReasoning() {
    QFETCH(QByteArray, text);
    QFETCH(bool, started_in_reasoning);
    QFETCH(QByteArray, reasoning);
    QFETCH(QByteArray, answer);
    QFETCH(bool, has_reasoning);
    QFETCH(bool, complete);

    const ReasoningSplit split =
        split_reasoning(std::string_view(text.constData(), static_cast<size_t>(text.size())), started_in_reasoning);
    QCOMPARE(bytes(split.reasoning), reasoning);
    QCOMPARE(bytes(split.answer), answer);
    QCOMPARE(split.has_reasoning, has_reasoning);
    QCOMPARE(split.reasoning_complete, complete);
}

void TestChatFormat::endOfTurn() {
    QCOMPARE(bytes(chat_format_end_of_turn(ChatFormat::DeepSeekV2)), QByteArray("<｜end▁of▁sentence｜>"));
    QCOMPARE(bytes(chat_format_end_of_turn(ChatFormat::DeepSeekV3)), QByteArray("<｜end▁of▁sentence｜>"));
    QCOMPARE(bytes(chat_format_end_of_turn(ChatFormat::Kimi)), QByteArray("<|im_end|>"));
    QCOMPARE(bytes(chat_format_end_of_turn(ChatFormat::ChatML)), QByteArray("<|im_end|>"));
    QCOMPARE(bytes(chat_format_end_of_turn(ChatFormat::DeepSeekCoder)), QByteArray("<|EOT|>"));
}

QTEST_APPLESS_MAIN(TestChatFormat)
#include "test_chat_format.moc"

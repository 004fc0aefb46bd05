// reports/escape.h — strings from a report (ids, paths, commands: all user input) made safe for
// the format they are written into: XML for JUnit, HTML for the page, GitHub-flavoured Markdown
// for job summaries; and base64 for the images a page inlines. No escaper lets its input open a
// tag, an entity, a link or a table cell of its own.
#pragma once
#include <string>

namespace mirage {

// The input less what breaks XML parsers: bytes that are not UTF-8 and code points XML 1.0
// forbids (controls other than tab, newline and carriage return, surrogates, U+FFFE, U+FFFF).
// Every escaper below applies it first, so all three formats share the rule.
std::string xml_safe(const std::string& s);

// & < > " ' as entities: safe in element text and in attribute values alike.
std::string xml_escape(const std::string& s);

// As XML, with "://" written as ":&#47;&#47;": the page then holds no URL at all, not even one a
// report's command or path happens to contain.
std::string html_escape(const std::string& s);

// Markdown text for a line or a table cell: one line, '|' escaped, < > & as entities, and
// \ ` * _ [ ] backslash-escaped so an id cannot open a tag, a link or emphasis.
std::string markdown_text(const std::string& s);

// A Markdown code span, backticks included: a backtick inside becomes ', and '|' stays escaped
// (GFM splits table cells before it sees spans).
std::string markdown_code(const std::string& s);

// A fenced block with info string `info` ("sh"), its fence longer than any backtick run in `body`.
std::string markdown_fence(const std::string& body, const std::string& info);

// Standard base64 (RFC 4648, '+' '/' and '=' padding).
std::string base64(const std::string& bytes);

}  // namespace mirage

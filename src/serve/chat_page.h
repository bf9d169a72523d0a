// The chat page served at GET /: one self-contained HTML file (inline CSS and JS, nothing loaded
// from the network) that streams answers from /v1/chat/completions, shows reasoning_content in a
// collapsible section, has a stop button and sampling controls, and keeps the API key (if the
// server wants one) in the browser's localStorage.
#pragma once
#include <string>

namespace frugal::serve {

const std::string& chat_page_html();

}  // namespace frugal::serve

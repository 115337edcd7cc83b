#include "tests/support/https_test_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tb::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

}  // namespace

std::string HttpsResult::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) {
      return value;
    }
  }
  return {};
}

HttpsResult HttpsRequest(const std::string& host, std::uint16_t port, const std::string& method,
                         const std::string& target, const HttpsClientOptions& options,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         const std::string& body) {
  HttpsResult result;
  try {
    asio::io_context io_context;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(options.ca.string());
    tls.set_verify_mode(asio::ssl::verify_peer);
    if (!options.cert.empty()) {
      tls.use_certificate_chain_file(options.cert.string());
      tls.use_private_key_file(options.key.string(), asio::ssl::context::pem);
    }
    if (options.max_tls_version != 0) {
      SSL_CTX_set_security_level(tls.native_handle(), 0);  // allow old protocols to be offered
      SSL_CTX_set_max_proto_version(tls.native_handle(), options.max_tls_version);
      SSL_CTX_set_cipher_list(tls.native_handle(), "ALL:@SECLEVEL=0");
    }
    if (options.min_tls_version != 0) {
      SSL_CTX_set_min_proto_version(tls.native_handle(), options.min_tls_version);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io_context, tls);
    asio::ip::tcp::resolver resolver(io_context);
    beast::get_lowest_layer(stream).expires_after(options.timeout);
    beast::get_lowest_layer(stream).connect(resolver.resolve(host, std::to_string(port)));
    stream.handshake(asio::ssl::stream_base::client);

    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, host);
    for (const auto& [name, value] : headers) {
      request.set(name, value);
    }
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);

    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    result.connected = true;
    result.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    result.body = response.body();
    beast::error_code ignored;
    stream.shutdown(ignored);
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  return result;
}

}  // namespace tb::testing

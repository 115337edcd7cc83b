#pragma once

// The passphrase callback for every OpenSSL PEM key read (pem_password_cb): it supplies none, so
// an encrypted key fails to load with the caller's config error. OpenSSL's default callback
// would instead prompt on the terminal and wait, and a broker starting as a service must not
// wait for a keyboard. Key files are kept unencrypted, readable by the broker's user only.
namespace tb::core {

inline int NoPemPassphrase(char* /*buffer*/, int /*size*/, int /*writing*/, void* /*data*/) {
  return 0;
}

}  // namespace tb::core

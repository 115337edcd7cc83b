// Asio, Asio.SSL and Beast are compiled once, here, instead of in every translation unit that
// includes them (BOOST_*_SEPARATE_COMPILATION is set on tb::net for all its users). This keeps
// the full build within budget on a 2-core machine.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>

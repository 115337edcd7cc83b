#include "broker/app/cli.h"

int main(int argc, char** argv) { return tb::app::RunCli(argc, argv); }

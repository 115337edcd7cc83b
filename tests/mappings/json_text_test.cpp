// JsonText / JsonBuffer (mappings/json_text.h): the text writer the v2 -> FHIR mapper writes
// Bundles with. What matters: separators, leaving out empty members and elements as the mapper's
// former DOM code did, escaping, and buffers that grow and are reused.
#include "mappings/json_text.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::mappings {
namespace {

TEST(JsonText, SeparatesMembersAndElements) {
  JsonBuffer buffer;
  JsonText out(buffer);
  out.Put('{');
  out.StringMember("\"a\":", "x");
  out.Key("\"b\":");
  out.Put('[');
  out.StringElement("1");
  out.StringElement("2");
  out.Put(']');
  out.Put('}');
  EXPECT_EQ(out.str(), R"({"a":"x","b":["1","2"]})");
}

TEST(JsonText, LeavesOutEmptyValuesLikeThePutAndPushOfTheDom) {
  JsonBuffer buffer;
  JsonText out(buffer);
  out.Put('{');
  out.StringMember("\"empty\":", "");                               // empty string: left out
  EXPECT_FALSE(out.Member("\"null\":", [] {}));                     // nothing written: left out
  EXPECT_FALSE(out.Member("\"object\":", [&] { out.Raw("{}"); }));  // {} left out
  EXPECT_TRUE(out.Member("\"kept\":", [&] { out.String("v"); }));
  const std::size_t list = out.Key("\"list\":");
  out.Put('[');
  EXPECT_FALSE(out.Item([&] { out.Raw("[]"); }));
  EXPECT_FALSE(out.CloseOrDrop(list, ']'));  // no element: the member goes, key included
  out.Put('}');
  EXPECT_EQ(out.str(), R"({"kept":"v"})");
}

TEST(JsonText, RollbackRemovesTheSeparatorToo) {
  JsonBuffer buffer;
  JsonText out(buffer);
  out.Put('[');
  out.StringElement("a");
  const std::size_t mark = out.Element();
  out.String("b");
  out.Rollback(mark);
  out.StringElement("c");
  out.Put(']');
  EXPECT_EQ(out.str(), R"(["a","c"])");
}

TEST(JsonText, EscapesStringsAndWritesNullForAnEmptyStringOrNull) {
  JsonBuffer buffer;
  JsonText out(buffer);
  out.Put('[');
  out.Separator();
  out.String("line\nbreak \"quoted\" \\ \x01");
  out.Separator();
  out.StringOrNull("");
  out.Put(']');
  EXPECT_EQ(out.str(), R"(["line\nbreak \"quoted\" \\ \u0001",null])");
}

TEST(JsonBuffer, GrowsPastItsFirstBlockAndKeepsWhatWasWritten) {
  std::string expected;
  {
    JsonBuffer buffer;
    JsonText out(buffer);
    out.Put('[');
    for (int i = 0; i < 5000; ++i) {  // ~35 KB, several times the first block
      out.StringElement("item" + std::to_string(i));
    }
    out.Put(']');
    expected = std::string(out.str());
    EXPECT_EQ(expected.substr(0, 17), R"(["item0","item1",)");
    EXPECT_EQ(expected.substr(expected.size() - 11), R"("item4999"])");
  }
  // A buffer made after one was destroyed reuses its memory, starting empty.
  JsonBuffer reused;
  EXPECT_TRUE(reused.empty());
  JsonText out(reused);
  out.String("fresh");
  EXPECT_EQ(out.str(), R"("fresh")");
}

TEST(JsonBuffer, MoveLeavesTheSourceEmpty) {
  JsonBuffer a;
  JsonText(a).String("x");
  JsonBuffer b(std::move(a));
  EXPECT_EQ(b.view(), R"("x")");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  a = std::move(b);
  EXPECT_EQ(a.view(), R"("x")");
}

}  // namespace
}  // namespace tb::mappings

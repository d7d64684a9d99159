import { describe, expect, it } from "vitest";
import { MAX_QUERY_CHARS, searchPath } from "./search";

describe("search path", () => {
  it("encodes the query, cursor and room", () => {
    expect(searchPath(" a&b=c ", "cur/+", "r 1")).toEqual({ path: "/api/v1/search?q=a%26b%3Dc&cursor=cur%2F%2B&room_id=r+1" });
  });
  it("refuses what the server would", () => {
    expect(searchPath("   ")).toHaveProperty("error");
    expect(searchPath("é".repeat(MAX_QUERY_CHARS + 1))).toHaveProperty("error");
    expect(searchPath("é".repeat(MAX_QUERY_CHARS))).toHaveProperty("path");
  });
});

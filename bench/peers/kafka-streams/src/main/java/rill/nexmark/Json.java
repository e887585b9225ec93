/*
 * Json — reads top-level members of a flat NEXMark JSON object from its text, without a
 * parser's tree (the generator writes plain ASCII objects whose strings need no escaping).
 *
 * DESIGN
 * The queries read a few members of each record, as Rill's rill_json_member() does, so the
 * peer pays for what it reads rather than for a full Jackson tree per record; both sides
 * then differ by the engine, not by the JSON library.
 */
package rill.nexmark;

final class Json {
    private Json() {}

    /** The index of the first character of member name's value in json, or -1. */
    static int find(String json, String name) {
        int nameLen = name.length();
        int i = json.indexOf('"' + name + "\":");
        while (i >= 0) {
            if (i > 0 && (json.charAt(i - 1) == '{' || json.charAt(i - 1) == ','))
                return i + nameLen + 3;
            i = json.indexOf('"' + name + "\":", i + 1);
        }
        return -1;
    }

    /** Member name as a long; throws when it is missing or not an integer. */
    static long getLong(String json, String name) {
        int i = find(json, name);
        if (i < 0)
            throw new IllegalArgumentException("no member " + name);
        boolean neg = json.charAt(i) == '-';
        if (neg)
            i++;
        long v = 0;
        int start = i;
        for (; i < json.length(); i++) {
            char c = json.charAt(i);
            if (c < '0' || c > '9')
                break;
            v = v * 10 + (c - '0');
        }
        if (i == start)
            throw new IllegalArgumentException("member " + name + " is not an integer");
        return neg ? -v : v;
    }

    /** Member name as a string (no escapes); throws when it is missing or not a string. */
    static String getString(String json, String name) {
        int i = find(json, name);
        if (i < 0 || json.charAt(i) != '"')
            throw new IllegalArgumentException("no string member " + name);
        return json.substring(i + 1, json.indexOf('"', i + 1));
    }

    /** A record key as a number, or -1 when it is not one (the watermark's key). */
    static long keyNumber(String key) {
        if (key == null || key.isEmpty() || key.length() > 18)
            return -1;
        long v = 0;
        for (int i = key.charAt(0) == '-' ? 1 : 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c < '0' || c > '9')
                return -1;
            v = v * 10 + (c - '0');
        }
        return key.charAt(0) == '-' ? -v : v;
    }
}

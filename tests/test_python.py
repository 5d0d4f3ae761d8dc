"""test_python.py — the ctypes binding (bindings/python/quire.py) against
the library it loads (QUIRE_LIBRARY): writing, searching, sorting, ranges,
stored documents, deletions, errors with their codes and columns, and
that its results are the CLI's (QUIRE_CLI) for the same index.  Run by
ctest (test_python) in builds without sanitizers."""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "bindings", "python"))
import quire  # noqa: E402

CLI = os.environ.get("QUIRE_CLI")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="quire-test-python-")
        self.dir = os.path.join(self.tmp, "idx")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def build(self):
        with quire.Writer(self.dir) as w:
            self.assertFalse(w.add("moby", title="Moby-Dick", body="Call me Ishmael. The white whale.",
                                   year=1851, date="1851-10-18"))
            w.add("typee", title="Typee", body="A peep at Polynesian life; no whale but a ship.",
                  year="1846")
            w.add("billy", title="Billy Budd", body="The handsome sailor, a ship of war; a whale.",
                  year=1924, note="posthumous")
            w.add("caf\u00e9", title="Caf\u00e9 \U0001f331", body="na\u00efve r\u00e9sum\u00e9",
                  year=2.5)
            docs, nbytes = w.progress()
            self.assertEqual(docs, 4)
            self.assertTrue(nbytes > 100)
            w.commit()

    def test_write_search_get(self):
        self.build()
        with quire.Index(self.dir) as ix:
            self.assertEqual(ix.count("whale"), 3)
            hits = ix.search("whale")
            self.assertEqual([h.id for h in hits], ["moby", "typee", "billy"])
            self.assertEqual([h.title for h in hits], ["Moby-Dick", "Typee", "Billy Budd"])
            # typee and billy have the same length: a tie, in doc order
            self.assertTrue(hits[0].score > hits[1].score == hits[2].score > 0)
            # pages of one ranking
            self.assertEqual(ix.search("whale", k=1, offset=1), hits[1:2])
            self.assertEqual(ix.search("whale", k=0), [])
            # accents folded, UTF-8 both ways
            h = ix.search("resume cafe")
            self.assertEqual([x.id for x in h], ["caf\u00e9"])
            self.assertEqual(h[0].title, "Caf\u00e9 \U0001f331")
            doc = ix.get(ix.find("billy"))
            self.assertEqual(doc, {"id": "billy", "title": "Billy Budd",
                                   "body": "The handsome sailor, a ship of war; a whale.",
                                   "year": "1924", "note": "posthumous"})
            self.assertIsNone(ix.find("nobody"))
            self.assertEqual(ix.snippet(ix.find("moby"), "white whale"),
                             "Call me Ishmael. The [white] [whale].")
            self.assertEqual(ix.snippet(ix.find("moby"), '"white whale"', "<b>", "</b>"),
                             "Call me Ishmael. The <b>white whale</b>.")
            self.assertEqual(ix.suggest("whalle"), "whale")
            self.assertIsNone(ix.suggest("whale"))
            st = ix.stats()
            self.assertEqual((st["docs"], st["segments"], st["deleted_docs"]), (4, 1, 0))

    def test_sort_and_ranges(self):
        self.build()
        with quire.Index(self.dir) as ix:
            self.assertEqual([(h.id, h.score) for h in ix.search("whale", sort="year")],
                             [("typee", 1846.0), ("moby", 1851.0), ("billy", 1924.0)])
            self.assertEqual([h.id for h in ix.search("whale OR resume", sort="-year")],
                             ["billy", "moby", "typee", "caf\u00e9"])
            h = ix.search("whale", sort="date")
            self.assertEqual(h[0].id, "moby")
            self.assertEqual(h[0].score, -3730233600.0)
            self.assertTrue(math.isnan(h[1].score) and math.isnan(h[2].score))
            self.assertEqual(ix.count("ship year:[1800 TO 1900]"), 1)
            self.assertEqual(ix.count("year:>=1851"), 2)
            self.assertEqual(ix.count("whale -year:{1846 TO 1924}"), 2)
            self.assertEqual(ix.value(ix.find("moby"), "date"), -3730233600.0)
            self.assertIsNone(ix.value(ix.find("typee"), "date"))
            self.assertEqual(ix.value(ix.find("caf\u00e9"), "year"), 2.5)
            self.assertEqual(ix.fields(), {"date": (1, -3730233600.0, -3730233600.0),
                                           "year": (4, 2.5, 1924.0)})

    def test_time_limit(self):
        self.build()
        with quire.Index(self.dir) as ix:
            hits = ix.search("whale", time_limit=1000)
            self.assertIsInstance(hits, quire.Hits)
            self.assertFalse(hits.partial)
            self.assertFalse(ix.search("whale").partial)
            self.assertEqual(hits, ix.search("whale"))
            self.assertEqual(ix.search("whale", sort="-year", time_limit=1000),
                             ix.search("whale", sort="-year"))
            # spent before the first segment: nothing, flagged
            hits = ix.search("whale", time_limit=1e-9)
            self.assertEqual((hits, hits.partial), ([], True))
            n = ix.count("whale", time_limit=1e-9)
            self.assertEqual((n, n.partial), (0, True))
            n = ix.count("whale", time_limit=1000)
            self.assertEqual((n, n.partial), (3, False))
            self.assertIsInstance(n, quire.Count)
            for bad in (0, -1, float("nan")):
                with self.assertRaises(ValueError):
                    ix.search("whale", time_limit=bad)
                with self.assertRaises(ValueError):
                    ix.count("whale", time_limit=bad)

    def test_replace_delete_optimize(self):
        self.build()
        with quire.Writer(self.dir, threads=2) as w:
            self.assertTrue(w.add("moby", title="Moby-Dick", body="the whale, again", year=1852))
            self.assertTrue(w.delete("typee"))
            self.assertFalse(w.delete("nobody"))
            w.optimize()
        with quire.Index(self.dir) as ix:
            self.assertEqual(ix.count("whale"), 2)
            self.assertEqual(ix.stats()["segments"], 1)
            self.assertEqual(ix.get(ix.find("moby"))["body"], "the whale, again")
            self.assertEqual([h.score for h in ix.search("whale", sort="year")], [1852.0, 1924.0])

    def test_errors(self):
        with self.assertRaises(quire.QuireError) as e:
            quire.Index(self.dir)
        self.assertEqual(e.exception.code, quire.ENOTFOUND)
        self.build()
        ix = quire.Index(self.dir)
        with self.assertRaises(quire.QuireError) as e:
            ix.search('whale "open')
        self.assertEqual((e.exception.code, e.exception.column), (quire.EQUERY, 7))
        self.assertIn("unterminated quote", str(e.exception))
        with self.assertRaises(quire.QuireError) as e:
            ix.count("(whale")
        self.assertEqual((e.exception.code, e.exception.column), (quire.EQUERY, 1))
        with self.assertRaises(quire.QuireError) as e:
            ix.get(99)
        self.assertEqual(e.exception.code, quire.ENOTFOUND)
        with self.assertRaises(ValueError):
            ix.search("whale", k=-1)
        with self.assertRaises(TypeError):
            ix.count(5)
        ix.close()
        ix.close()
        with self.assertRaises(quire.QuireError) as e:
            ix.count("whale")
        self.assertEqual(e.exception.code, quire.EARG)
        # one writer at a time
        w = quire.Writer(self.dir)
        with self.assertRaises(quire.QuireError) as e:
            quire.Writer(self.dir)
        self.assertEqual(e.exception.code, quire.ELOCKED)
        w.add("x", body="uncommitted")
        w.close()
        with quire.Index(self.dir) as ix:
            self.assertEqual(ix.count("uncommitted"), 0)

    def test_highlight_tokenize_verify_rebuild(self):
        self.build()
        with quire.Index(self.dir) as ix:
            doc = ix.find("moby")
            body = ix.get(doc)["body"].encode("utf-8")
            spans = ix.highlight(doc, '"white whale" ishmael')
            self.assertEqual([body[a:b] for a, b in spans], [b"Ishmael", b"white whale"])
            self.assertEqual(ix.highlight(doc, "moby", field="title"), [(0, 4)])
            with self.assertRaises(quire.QuireError) as e:
                ix.highlight(doc, "x", field="nope")
            self.assertEqual(e.exception.code, quire.ENOTFOUND)
        self.assertEqual(quire.tokenize("Café résumés!"),
                         [("cafe", 0, 0, 5), ("resumes", 1, 6, 15)])
        self.assertEqual([t[0] for t in quire.tokenize("running dogs", quire.TOK_DEFAULT |
                                                       quire.TOK_STEM_EN)], ["run", "dog"])
        self.assertEqual(quire.verify(self.dir), [])
        stats, report = quire.rebuild(self.dir, tok_flags=quire.TOK_DEFAULT | quire.TOK_STEM_EN)
        self.assertEqual((stats["docs"], stats["lost"]), (4, 0))
        self.assertTrue(stats["tok_flags"] & quire.TOK_STEM_EN)
        with quire.Index(self.dir) as ix:
            self.assertEqual(ix.count("sailors"), 1)   # stemmed now: sailor
            self.assertEqual(ix.search("whale", sort="year")[0].id, "typee")
        # a damaged segment: verify names the problem
        seg = [f for f in os.listdir(self.dir) if f.endswith(".qseg")][0]
        with open(os.path.join(self.dir, seg), "r+b") as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 0xFF]))
        problems = quire.verify(self.dir)
        self.assertTrue(problems)
        self.assertTrue(any("checksum" in p or "corrupt" in p for p in problems), problems)

    @unittest.skipUnless(CLI, "QUIRE_CLI not set")
    def test_same_as_cli(self):
        """A corpus indexed by the CLI reads the same through the binding."""
        corpus = os.path.join(SRC, "corpus", "moby-sample.jsonl")
        subprocess.run([CLI, "index", "--threads", "1", self.dir, corpus], check=True,
                       capture_output=True)
        for q in ["whale", '"white whale"', "ahab OR starbuck", "whal* -ship"]:
            out = subprocess.run([CLI, "search", "--json", "-k", "20", self.dir, q], check=True,
                                 capture_output=True, text=True).stdout
            want = [json.loads(line) for line in out.splitlines()]
            with quire.Index(self.dir) as ix:
                got = ix.search(q, k=20)
                self.assertEqual([h.id for h in got], [w["id"] for w in want], q)
                for h, w in zip(got, want):
                    self.assertAlmostEqual(h.score, w["score"], places=5)
                count = subprocess.run([CLI, "search", "--count", self.dir, q], check=True,
                                       capture_output=True, text=True).stdout
                self.assertEqual(ix.count(q), int(count))


if __name__ == "__main__":
    unittest.main()

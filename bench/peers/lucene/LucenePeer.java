/*
 * LucenePeer.java — Apache Lucene 4.10 as a peer in Quire's benchmark.
 *
 * Role: the Java twin of bench/peers/peer_common.h plus an engine adapter:
 * it reads the same JSON Lines corpus and query file and prints the same
 * result lines as the C peers (see bench/README.md), so bench/run treats
 * all engines alike.  Indexing: StandardAnalyzer with an EMPTY stop-word
 * set (its default English stop list would drop "the", "of", ... and make
 * stop-word terms and phrases incomparable with the other engines),
 * fields title and body as unstored TextFields, the id as a stored
 * StringField, BM25 (k1 = 1.2, b = 0.75), a 256 MiB RAM buffer, and
 * forceMerge(1) at the end.  Queries are built directly (TermQuery,
 * BooleanQuery, PhraseQuery), never parsed; every word is searched in both
 * fields: a document matches a word if its title or its body has it, and a
 * phrase if the title or the body has the whole phrase.
 *
 * Before any timing, the whole query set is repeated until about 20 s have
 * passed (LUCENE_WARMUP_SECONDS overrides), so that the JIT has compiled
 * the hot paths; then each query runs once untimed, REPS timed exact
 * counts (TotalHitCountCollector) and REPS timed top-10 searches.
 *
 * Usage: java -cp CLASSES:JARS LucenePeer build INDEXDIR CORPUS.jsonl
 *        java -cp CLASSES:JARS LucenePeer query INDEXDIR QUERYFILE REPS
 * bench/peers/lucene/lucene-peer compiles and runs it.
 */
import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.util.CharArraySet;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.PhraseQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.TotalHitCountCollector;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.Version;

public final class LucenePeer {
    static final String[] FIELDS = {"title", "body"};

    /* ---- JSON Lines: one flat object of string values per line ---- */
    static final class Json {
        final String s;
        int p;
        Json(String s) { this.s = s; }

        void ws() {
            while (p < s.length() && Character.isWhitespace(s.charAt(p))) p++;
        }

        String str() {
            StringBuilder b = new StringBuilder();
            p++; // opening quote
            while (true) {
                char c = s.charAt(p++);
                if (c == '"') return b.toString();
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(p++);
                switch (e) {
                case 'n': b.append('\n'); break;
                case 't': b.append('\t'); break;
                case 'r': b.append('\r'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'u':
                    b.append((char) Integer.parseInt(s.substring(p, p + 4), 16));
                    p += 4;
                    break;
                default: b.append(e);
                }
            }
        }

        /* Returns {id, title, body}; missing fields are "". */
        String[] doc() {
            String[] out = {"", "", ""};
            ws();
            p++; // {
            while (true) {
                ws();
                if (s.charAt(p) == '}') return out;
                String key = str();
                ws();
                p++; // :
                ws();
                String val = null;
                if (s.charAt(p) == '"') val = str();
                else while (p < s.length() && s.charAt(p) != ',' && s.charAt(p) != '}') p++;
                if (val != null) {
                    if (key.equals("id")) out[0] = val;
                    else if (key.equals("title")) out[1] = val;
                    else if (key.equals("body")) out[2] = val;
                }
                ws();
                if (s.charAt(p) == ',') p++;
            }
        }
    }

    static double now() { return System.nanoTime() * 1e-9; }

    static void build(String dir, String corpus) throws IOException {
        double t0 = now();
        deleteTree(new File(dir));
        StandardAnalyzer an = new StandardAnalyzer(CharArraySet.EMPTY_SET);
        IndexWriterConfig cfg = new IndexWriterConfig(Version.LUCENE_4_10_4, an);
        cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
        cfg.setSimilarity(new BM25Similarity(1.2f, 0.75f));
        cfg.setRAMBufferSizeMB(256);
        long n = 0;
        try (FSDirectory d = FSDirectory.open(new File(dir));
             IndexWriter w = new IndexWriter(d, cfg);
             BufferedReader r = new BufferedReader(new InputStreamReader(
                 new FileInputStream(corpus), StandardCharsets.UTF_8), 1 << 20)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] f = new Json(line).doc();
                Document doc = new Document();
                doc.add(new StringField("id", f[0], Field.Store.YES));
                doc.add(new TextField("title", f[1], Field.Store.NO));
                doc.add(new TextField("body", f[2], Field.Store.NO));
                w.addDocument(doc);
                n++;
            }
            w.forceMerge(1);
            w.commit();
        }
        System.out.printf("docs=%d%nbuild_seconds=%.3f%n", n, now() - t0);
    }

    static void deleteTree(File f) {
        File[] kids = f.listFiles();
        if (kids != null) for (File k : kids) deleteTree(k);
        f.delete();
    }

    /* ---- queries ---- */
    static final class Q {
        String cls, text;
        String[] words;
        Query query;
    }

    static Query wordAnyField(String w) {
        BooleanQuery b = new BooleanQuery();
        for (String f : FIELDS) b.add(new TermQuery(new Term(f, w)), BooleanClause.Occur.SHOULD);
        return b;
    }

    static Query build(Q q) {
        switch (q.cls) {
        case "term":
            return wordAnyField(q.words[0]);
        case "and":
        case "or": {
            BooleanQuery b = new BooleanQuery();
            BooleanClause.Occur occ = q.cls.equals("and") ? BooleanClause.Occur.MUST
                                                          : BooleanClause.Occur.SHOULD;
            for (String w : q.words) b.add(wordAnyField(w), occ);
            return b;
        }
        case "phrase": {
            BooleanQuery b = new BooleanQuery();
            for (String f : FIELDS) {
                PhraseQuery pq = new PhraseQuery();
                for (String w : q.words) pq.add(new Term(f, w));
                b.add(pq, BooleanClause.Occur.SHOULD);
            }
            return b;
        }
        default:
            throw new IllegalArgumentException("unknown class " + q.cls);
        }
    }

    static List<Q> readQueries(String path) throws IOException {
        List<Q> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                 new FileInputStream(path), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                int tab = line.indexOf('\t');
                Q q = new Q();
                q.cls = line.substring(0, tab);
                q.text = line.substring(tab + 1);
                q.words = q.text.trim().split(" +");
                q.query = build(q);
                out.add(q);
            }
        }
        return out;
    }

    static long count(IndexSearcher s, Query q) throws IOException {
        TotalHitCountCollector c = new TotalHitCountCollector();
        s.search(q, c);
        return c.getTotalHits();
    }

    static int top10(IndexSearcher s, Query q) throws IOException {
        TopDocs td = s.search(q, 10);
        return td.scoreDocs.length;
    }

    /* Nearest-rank percentile, median as the mean of the middle pair. */
    static double pct(double[] v, double p) {
        double[] a = v.clone();
        Arrays.sort(a);
        int n = a.length;
        if (p == 50.0 && n % 2 == 0) return (a[n / 2 - 1] + a[n / 2]) / 2;
        int r = (int) Math.ceil(p / 100.0 * n - 1e-6);
        r = Math.max(1, Math.min(n, r));
        return a[r - 1];
    }

    static String reps(double[] v) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            if (i > 0) b.append(',');
            b.append(String.format("%.2f", v[i]));
        }
        return b.toString();
    }

    static void query(String dir, String qfile, int reps) throws IOException {
        List<Q> qs = readQueries(qfile);
        double warm = 20;
        String env = System.getenv("LUCENE_WARMUP_SECONDS");
        if (env != null) warm = Double.parseDouble(env);
        try (FSDirectory d = FSDirectory.open(new File(dir));
             DirectoryReader reader = DirectoryReader.open(d)) {
            IndexSearcher s = new IndexSearcher(reader);
            s.setSimilarity(new BM25Similarity(1.2f, 0.75f));
            double t0 = now();
            long rounds = 0, sink = 0;
            while (now() - t0 < warm) {
                for (Q q : qs) sink += count(s, q.query) + top10(s, q.query);
                rounds++;
            }
            System.err.printf("lucene: JIT warm-up %.1f s, %d rounds (%d)%n", now() - t0,
                              rounds, sink & 1);
            double[] cu = new double[reps], tu = new double[reps];
            StringBuilder out = new StringBuilder();
            for (Q q : qs) {
                long cnt = count(s, q.query);
                int returned = top10(s, q.query);
                for (int r = 0; r < reps; r++) {
                    double a = now();
                    count(s, q.query);
                    cu[r] = (now() - a) * 1e6;
                }
                for (int r = 0; r < reps; r++) {
                    double a = now();
                    top10(s, q.query);
                    tu[r] = (now() - a) * 1e6;
                }
                out.append(String.format("%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%d%n", q.cls,
                        q.text, cnt, pct(cu, 50), pct(cu, 99), pct(tu, 50), pct(tu, 99),
                        reps(cu), reps(tu), returned));
            }
            System.out.print(out);
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 3 && args[0].equals("build")) {
            build(args[1], args[2]);
        } else if (args.length == 4 && args[0].equals("query")) {
            query(args[1], args[2], Math.max(1, Integer.parseInt(args[3])));
        } else {
            System.err.println("usage: LucenePeer build INDEXDIR CORPUS.jsonl\n"
                               + "       LucenePeer query INDEXDIR QUERYFILE REPS");
            System.exit(2);
        }
    }
}

package dxsearch.analysis;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.miscellaneous.LengthFilter;
import org.apache.lucene.analysis.snowball.SnowballFilter;
import org.apache.lucene.analysis.util.CharTokenizer;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;
import org.tartarus.snowball.ext.EnglishStemmer;

/**
 * The analysis of the embedded backend's tantivy "en_stem" tokenizer, so BM25 sees the same terms in
 * both backends: runs of letters or digits, tokens of 40 characters or more dropped, lower-cased,
 * Snowball English (Porter2) stems. No stop words, as in tantivy.
 */
@NamedComponent("dxsearch_en_stem")
public class EnStemAnalyzerFactory implements AnalyzerFactory {
    @Override
    public Analyzer create() {
        return new Analyzer() {
            @Override
            protected TokenStreamComponents createComponents(String fieldName) {
                Tokenizer source = CharTokenizer.fromTokenCharPredicate(Character::isLetterOrDigit);
                TokenStream stream = new LengthFilter(source, 1, 39);
                stream = new LowerCaseFilter(stream);
                stream = new SnowballFilter(stream, new EnglishStemmer());
                return new TokenStreamComponents(source, stream);
            }
        };
    }
}

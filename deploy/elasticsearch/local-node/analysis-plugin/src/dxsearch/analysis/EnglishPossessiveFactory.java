package dxsearch.analysis;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishPossessiveFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenFilterFactory;

@NamedComponent("english_possessive")
public class EnglishPossessiveFactory implements TokenFilterFactory {
    @Override
    public TokenStream create(TokenStream in) {
        return new EnglishPossessiveFilter(in);
    }
}

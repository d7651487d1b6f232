import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { seededRandom, splitIid, splitLabelSkew, tokenize, Vocabulary } from './corpus.js';
import { LogisticRegression } from './logistic.js';

describe('distill corpus and model', () => {
  it('tokenizes the subject and body only, without HTML tags', () => {
    const raw = 'Received: from mailhost.example\nSubject: Cheap Loans NOW\nX-Id: zzzz\n\n<p>Click <b>here</b> for 100% FREE money</p>';
    assert.deepEqual(tokenize(raw), ['cheap', 'loans', 'now', 'click', 'here', 'for', 'free', 'money']);
  });

  it('splits deterministically; label skew gives teachers different class shares, none empty', () => {
    const items = Array.from({ length: 400 }, (_, i) => ({ id: i, label: i % 3 === 0 ? 1 : 0 }));
    const a = splitLabelSkew(items, 10, 0.5, seededRandom(1));
    assert.deepEqual(a, splitLabelSkew(items, 10, 0.5, seededRandom(1)));
    assert.equal(a.flat().length, 400);
    assert.ok(a.every((p) => p.length > 0));
    const shares = a.map((p) => p.filter((x) => x.label === 1).length / p.length);
    assert.ok(Math.max(...shares) - Math.min(...shares) > 0.3, `shares ${shares}`);
    const iid = splitIid(items, 10, seededRandom(1));
    assert.ok(iid.every((p) => p.length === 40));
  });

  it('logistic regression separates a word-defined class and predicts the only class it saw', () => {
    const vocab = Vocabulary.fromDocuments([['free', 'money'], ['free', 'meeting'], ['meeting', 'notes'], ['money', 'notes']], 10);
    const ex = (words: string[], label: 0 | 1) => ({ features: vocab.encode(words), label });
    const train = [ex(['free', 'money'], 1), ex(['money'], 1), ex(['meeting', 'notes'], 0), ex(['notes'], 0)];
    const model = LogisticRegression.train(train, vocab.size);
    assert.equal(model.accuracy(train), 1);
    assert.equal(model.predict(vocab.encode(['free', 'money', 'money'])), 1);
    const hamOnly = LogisticRegression.train([ex(['notes'], 0), ex(['meeting'], 0)], vocab.size);
    assert.equal(hamOnly.predict(vocab.encode(['free', 'money'])), 0);
  });
});

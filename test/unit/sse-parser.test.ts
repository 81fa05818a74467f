/**
 * The remote guard's SSE parser: any split of a valid stream into chunks yields the events of the
 * whole stream (CR, LF and CRLF line ends, a BOM, comments, multi-line data, ids, retry), and
 * nothing it is fed makes it throw.
 */
import fc from 'fast-check';
import { type SseEvent, SseParser } from '../../packages/guard/src/remote/sse-parser';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

const parseAll = (chunks: string[]): { events: SseEvent[]; retryMs: number | null } => {
  const parser = new SseParser();
  const events = chunks.flatMap((chunk) => parser.push(chunk));
  return { events, retryMs: parser.retryMs };
};

/** Splits `text` at the given cut points (positions modulo its length). */
function split(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => (text.length === 0 ? 0 : c % (text.length + 1))))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let start = 0;
  for (const p of points) {
    chunks.push(text.slice(start, p));
    start = p;
  }
  chunks.push(text.slice(start));
  return chunks;
}

const safeText = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '0', ' ', ':', '{', '"', 'é', '☃', '-', '.') });
const newline = fc.constantFrom('\n', '\r', '\r\n');

/** A valid stream of events with random line ends, comments and fields, and the events it holds. */
const validStream = fc
  .tuple(
    fc.boolean(),
    fc.array(
      fc.record({
        comment: fc.option(safeText),
        event: fc.option(fc.stringMatching(/^[a-z]{1,8}$/)),
        id: fc.option(fc.stringMatching(/^[A-Za-z0-9.]{1,12}$/)),
        data: fc.array(safeText, { minLength: 1, maxLength: 3 }),
        retry: fc.option(fc.integer({ min: 0, max: 100_000 })),
      }),
      { maxLength: 8 },
    ),
    fc.array(newline, { minLength: 64, maxLength: 64 }),
  )
  .map(([bom, events, ends]) => {
    let i = 0;
    let previous = '';
    // A CR then an LF is one line end (CRLF): after a CR, an LF alone is written as CRLF.
    const nl = () => {
      const end = ends[i++ % ends.length];
      previous = previous === '\r' && end === '\n' ? '\r\n' : end;
      return previous;
    };
    let text = bom ? '\uFEFF' : '';
    const expected: SseEvent[] = [];
    let lastId = '';
    let retry: number | null = null;
    for (const e of events) {
      if (e.comment !== null) text += `:${e.comment}${nl()}`;
      if (e.retry !== null) {
        text += `retry: ${e.retry}${nl()}`;
        retry = e.retry;
      }
      if (e.id !== null) {
        text += `id: ${e.id}${nl()}`;
        lastId = e.id;
      }
      if (e.event !== null) text += `event: ${e.event}${nl()}`;
      for (const line of e.data) text += `data: ${line}${nl()}`;
      text += nl();
      expected.push({ event: e.event ?? 'message', data: e.data.join('\n'), id: lastId });
    }
    return { text, expected, retry };
  });

describe('SseParser', () => {
  it('parses a stream as the format says', () => {
    const { events, retryMs } = parseAll([': hi\nretry: 2000\nid: a.1\nevent: key\ndata: {"keyId":"k1"}\n\ndata: one\ndata: two\r\n\r\nevent: reset\ndata\n\n']);
    expect(events).toEqual([
      { event: 'key', data: '{"keyId":"k1"}', id: 'a.1' },
      { event: 'message', data: 'one\ntwo', id: 'a.1' },
      { event: 'reset', data: '', id: 'a.1' },
    ]);
    expect(retryMs).toBe(2000);
  });

  it('yields the same events however the stream is split into chunks', () => {
    fc.assert(
      fc.property(validStream, fc.array(fc.nat(), { maxLength: 12 }), ({ text, expected, retry }, cuts) => {
        const whole = parseAll([text]);
        expect(whole.events).toEqual(expected);
        const chunked = parseAll(split(text, cuts));
        expect(chunked.events).toEqual(expected);
        expect(chunked.retryMs).toBe(retry);
      }),
      { numRuns: RUNS },
    );
  });

  it('yields the same events when fed one character at a time', () => {
    fc.assert(
      fc.property(validStream, ({ text, expected }) => {
        expect(parseAll([...text]).events).toEqual(expected);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it('never throws on garbage, and keeps working after it', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 10 }), (chunks) => {
        const parser = new SseParser();
        for (const chunk of chunks) {
          const events = parser.push(chunk);
          for (const e of events) expect(typeof e.data).toBe('string');
        }
        // After an event boundary, a well-formed event still comes through.
        const after = parser.push('\n\nevent: key\ndata: ok\n\n');
        expect(after[after.length - 1]).toMatchObject({ event: 'key', data: 'ok' });
      }),
      { numRuns: RUNS },
    );
  });
});

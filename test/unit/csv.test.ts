import { csvCell, toCsv } from '../../src/lib/csv';

/** A small RFC 4180 reader: what a spreadsheet or a CSV library sees in the text. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else cell += c;
  }
  return rows;
}

describe('CSV exports', () => {
  it('prefix text cells a spreadsheet would run as a formula with a quote', () => {
    for (const text of ['=HYPERLINK("http://evil.test","x")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd']) {
      expect(parseCsv(toCsv(['v'], [[text]]))[1][0]).toBe(`'${text}`);
    }
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('a=1')).toBe('a=1');
  });

  it('quote commas, quotes, CR and LF (RFC 4180), so every cell reads back exactly', () => {
    const values = ['plain', 'a,b', 'say "hi"', 'line1\nline2', 'line1\r\nline2', '', 'ünïcödé ✓'];
    const text = toCsv(['value', 'n'], values.map((v, i) => [v, i]));
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parseCsv(text)).toEqual([['value', 'n'], ...values.map((v, i) => [v, String(i)])]);
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=a,"b"')).toBe('"\'=a,""b"""');
  });

  it('write numbers as numbers (negative ones too, decimals kept), null as empty, dates as ISO 8601, objects as JSON', () => {
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(0.015_78)).toBe('0.01578');
    expect(csvCell(0.000_001)).toBe('0.000001');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(new Date(Date.UTC(2026, 10, 22)))).toBe('2026-11-22T00:00:00.000Z');
    expect(csvCell({ name: { before: 'a', after: '=b' } })).toBe('"{""name"":{""before"":""a"",""after"":""=b""}}"');
    expect(csvCell(true)).toBe('true');
  });
});

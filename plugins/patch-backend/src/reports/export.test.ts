import { csvField, formatExport } from './export';

async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
}

async function* rowsOf(rows: object[], read: { n: number }) {
  for (const row of rows) {
    read.n += 1;
    yield row;
  }
}

describe('formatExport', () => {
  it('formats CSV with a header line and JSON with exactly the columns', async () => {
    const rows = [{ a: 1, b: '=x' }, { a: 2 }];
    expect(
      await collect(
        formatExport({
          format: 'csv',
          columns: ['a', 'b'],
          rows: rowsOf(rows, { n: 0 }),
        }),
      ),
    ).toBe("a,b\r\n1,'=x\r\n2,\r\n");
    expect(
      JSON.parse(
        await collect(
          formatExport({
            format: 'json',
            columns: ['a', 'b'],
            rows: rowsOf(rows, { n: 0 }),
          }),
        ),
      ),
    ).toEqual([
      { a: 1, b: '=x' },
      { a: 2, b: null },
    ]);
    expect(
      await collect(
        formatExport({
          format: 'json',
          columns: ['a'],
          rows: rowsOf([], { n: 0 }),
        }),
      ),
    ).toBe('[]\n');
  });

  it('reads the first row before the first chunk, and stops when aborted', async () => {
    const failing = formatExport({
      format: 'csv',
      columns: ['a'],
      rows: (async function* fail() {
        yield* [];
        throw new Error('query failed');
      })(),
    });
    await expect(failing.next()).rejects.toThrow('query failed');

    const read = { n: 0 };
    const gone = new AbortController();
    const chunks = formatExport({
      format: 'csv',
      columns: ['a'],
      rows: rowsOf(
        Array.from({ length: 1000 }, (_, a) => ({ a })),
        read,
      ),
      signal: gone.signal,
    });
    expect((await chunks.next()).value).toBe('a\r\n');
    expect(read.n).toBe(1);
    gone.abort();
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
    // No row is read once the client has gone.
    expect(read.n).toBe(1);
  });

  it('quotes and defuses CSV fields', () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField('@cmd')).toBe("'@cmd");
    expect(csvField(null)).toBe('');
    expect(csvField({ x: 1 })).toBe('"{""x"":1}"');
  });
});

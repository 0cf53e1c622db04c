using System.Text;

namespace Tether.Cli;

/// <summary>
/// tether-cli's standard output (<see cref="Console.SetOut"/>): UTF-8, flushed at every write, opened at the first
/// one. A write that fails (a closed stdout, a full disk) throws an <see cref="IOException"/> whose message names the
/// line that was lost (<c>cannot write "ID" to stdout: No space left on device</c>), as the front's does: a create
/// that made its sandbox must say which one when it cannot print the id. A reader that went away (EPIPE) is not a
/// failure: .NET's console stream drops the write, as for every .NET program.
/// </summary>
sealed class StdoutWriter : TextWriter
{
    StreamWriter? writer;

    public override Encoding Encoding { get; } = new UTF8Encoding(false);

    public override void Write(char value) => Guard(null, w => w.Write(value));
    public override void Write(char[] buffer, int index, int count) => Guard(null, w => w.Write(buffer, index, count));
    public override void Write(string? value) => Guard(value, w => w.Write(value));
    public override void WriteLine(string? value) => Guard(value, w => w.WriteLine(value));
    public override void Flush() => Guard(null, w => w.Flush());

    void Guard(string? text, Action<StreamWriter> write)
    {
        try { write(writer ??= new StreamWriter(Console.OpenStandardOutput(), Encoding) { AutoFlush = true }); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A closed stdout: opening it fails with EBADF, which .NET reports as access denied around the IOException.
            var reason = (e is UnauthorizedAccessException && e.InnerException is IOException io ? io : e).Message;
            var what = text is { Length: > 0 and <= 200 } && !text.Contains('\n') ? $" \"{text}\"" : "";
            throw new IOException($"cannot write{what} to stdout: {reason}", e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) writer?.Dispose();
        base.Dispose(disposing);
    }
}

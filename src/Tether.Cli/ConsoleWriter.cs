using System.Text;

namespace Tether.Cli;

/// <summary>
/// tether-cli's standard output (<see cref="Console.SetOut"/>) or error (<see cref="Console.SetError"/>): UTF-8,
/// flushed at every write, opened at the first one. On stdout, a write that fails (a closed stdout, a full disk)
/// throws an <see cref="IOException"/> whose message names the line that was lost (<c>cannot write "ID" to stdout: No
/// space left on device</c>), as the front's does: a create that made its sandbox must say which one when it cannot
/// print the id. On stderr such a failure is dropped: there is nowhere left to say it, and the exit code still
/// tells (an error line that could not be written used to abort the process, exit 134). A reader that went away
/// (EPIPE) is not a failure: .NET's console stream drops the write, as for every .NET program.
/// </summary>
sealed class ConsoleWriter(bool stderr = false) : TextWriter
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
        try { write(writer ??= new StreamWriter(stderr ? Console.OpenStandardError() : Console.OpenStandardOutput(), Encoding) { AutoFlush = true }); }
        catch (Exception e) when (stderr && e is IOException or UnauthorizedAccessException) { }
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

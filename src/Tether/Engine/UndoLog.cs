namespace Tether.Engine;

/// <summary>
/// The undo log of one multi-step use case: after each kernel step succeeds its inverse is registered; when a later
/// step fails, <see cref="Rollback"/> runs the inverses newest first, keeps going past errors, and returns them.
/// </summary>
public sealed class UndoLog
{
    readonly Stack<(string What, Action Undo)> steps = new();

    /// <summary>Registers the inverse of a step that has just succeeded.</summary>
    public void Add(string what, Action undo) => steps.Push((what, undo));

    /// <summary>Undoes every registered step, newest first; returns the errors met, each naming its step.</summary>
    public IReadOnlyList<string> Rollback()
    {
        var errors = new List<string>();
        while (steps.TryPop(out var step))
        {
            try { step.Undo(); }
            catch (Exception e) { errors.Add($"undo {step.What}: {e.Message}"); }
        }
        return errors;
    }

    /// <summary>Runs <paramref name="body"/>; if it throws, rolls back and rethrows (as a <see cref="TetherException"/>
    /// whose message also names any rollback error).</summary>
    public static T Run<T>(Func<UndoLog, T> body)
    {
        var log = new UndoLog();
        try { return body(log); }
        catch (Exception e)
        {
            var errors = log.Rollback();
            if (errors.Count == 0) throw;
            throw new TetherException($"{e.Message} (and rollback failed: {string.Join("; ", errors)})", e);
        }
    }
}
